"""Thing instances from semantics and depth, and the label-free thing/stuff decisions."""
