"""File formats shared by several stages: one reader and validator per file kind."""
