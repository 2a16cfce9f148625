"""Raw cluster PNGs -> trainId PNGs through a centroid file's ``cluster_to_class``.

    python pseudo_labels/remap_raw_clusters_to_trainid.py --input_dir R/pseudo_semantic_raw_k80/val \\
        --output_dir R/pseudo_semantic_k80_trainid/val --centroids_path R/pseudo_semantic_raw_k80/kmeans_centroids.npz
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pseudo_labels.errors import InputError, exit_on_input_error
from pseudo_labels.remap_labels import cluster_table, remap_folder
from pseudo_labels.sweep import load_cluster_to_class


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input_dir", required=True, type=Path, help="raw cluster PNGs (any layout)")
    parser.add_argument("--output_dir", required=True, type=Path, help="trainId PNGs, same relative paths")
    parser.add_argument("--centroids_path", required=True, type=Path, help="kmeans_centroids.npz with cluster_to_class")
    args = parser.parse_args(argv)
    table = load_cluster_to_class(args.centroids_path)
    if np.any(table == 255):
        raise InputError(f"{args.centroids_path}: cluster_to_class has unmapped (255) clusters (a label-free file).")
    count = remap_folder(args.input_dir, args.output_dir, cluster_table(table), len(table), "cluster")
    print(f"remapped {count} PNGs to {args.output_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
