"""Reports and pictures: Markdown and HTML documents, figures, drawing primitives, per-image pictures."""
