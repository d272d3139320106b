// Exchanges an API token for a session cookie (HttpOnly: this script never sees it), then
// opens the dashboard. The token travels in the body of one POST, never in a URL.
"use strict";
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("error");
  error.hidden = true;
  const token = document.getElementById("token").value.trim();
  try {
    const answer = await fetch("/dashboard/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
      credentials: "same-origin",
    });
    if (answer.status === 204) {
      window.location.replace("/");
      return;
    }
    error.textContent = answer.status === 401 ? "That token is not valid here." : `Sign-in failed (HTTP ${answer.status}).`;
  } catch (e) {
    error.textContent = "The coordinator does not answer.";
  }
  error.hidden = false;
});
