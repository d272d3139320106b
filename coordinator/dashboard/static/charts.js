// Live time-series charts on uPlot (vendor/uPlot.iife.min.js, MIT): one small wrapper
// that keeps the last `keep` points and redraws on push. Series may appear later (a new
// sensor type): the chart is rebuilt with the new set.
"use strict";

const PALETTE = ["#3b82f6", "#ef4444", "#10b981", "#f59e0b", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16"];

class LiveChart {
  // markers: names of series drawn as points only (anomalies on a sensor's chart).
  constructor(element, names, { keep = 900, scale = 1, markers = [] } = {}) {
    this.element = element;
    this.keep = keep;
    this.scale = scale;
    this.markers = new Set(markers);
    this.names = names.slice();
    this.data = [[], ...names.map(() => [])];
    this.plot = null;
    this.build();
    new ResizeObserver(() => this.resize()).observe(element);
  }

  setNames(names) {
    if (names.length === this.names.length && names.every((n, i) => n === this.names[i])) return;
    const old = new Map(this.names.map((n, i) => [n, this.data[i + 1]]));
    this.names = names.slice();
    this.data = [this.data[0], ...names.map((n) => old.get(n) || this.data[0].map(() => null))];
    this.build();
  }

  build() {
    if (this.plot) this.plot.destroy();
    const series = [{}, ...this.names.map((name, i) => {
      const marker = this.markers.has(name);
      return {
        label: name,
        stroke: marker ? "#d03a3a" : PALETTE[i % PALETTE.length],
        fill: marker ? "#d03a3a" : undefined,
        width: marker ? 0 : 1.5,
        paths: marker ? () => null : undefined,
        points: marker ? { show: true, size: 7, fill: "#d03a3a" } : { show: false },
        spanGaps: false,
      };
    })];
    this.plot = new uPlot({
      width: Math.max(200, this.element.clientWidth),
      height: Math.max(120, this.element.clientHeight - 30),
      series,
      axes: [{ stroke: "GrayText" }, { stroke: "GrayText", size: 50 }],
      legend: { live: false },
      cursor: { show: true },
    }, this.data, this.element);
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: Math.max(200, this.element.clientWidth), height: Math.max(120, this.element.clientHeight - 30) });
  }

  // rows: [{t, values: {name: number|null}}], oldest first.
  push(rows) {
    for (const row of rows) {
      this.data[0].push(row.t);
      this.names.forEach((name, i) => {
        const v = row.values[name];
        this.data[i + 1].push(v === null || v === undefined ? null : v * this.scale);
      });
    }
    const extra = this.data[0].length - this.keep;
    if (extra > 0) this.data = this.data.map((column) => column.slice(extra));
    this.plot.setData(this.data);
  }

  replace(rows) {
    this.data = [[], ...this.names.map(() => [])];
    this.push(rows);
  }
}

window.LiveChart = LiveChart;
