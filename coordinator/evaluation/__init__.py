"""Detection quality on labelled data: ``edgewatch eval skab PATH`` (see ``skab``)."""
