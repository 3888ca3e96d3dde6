"""Remapping a Keras 3 weights file onto another model by array shapes (not a scenario).

A way out of "expected N variables, but received 0": the variables are in the file, under
another path. Save the target model's own weights to learn the layout it loads from, then fill
each of its variable groups from the one group of the source file whose arrays have exactly the
same shapes, in order. Refuses when a group has no such match or several.
"""

import os

import h5py


def variable_groups(path):
    """{group path: [dataset, ...]} for every group holding numbered arrays (vars/0, vars/1, ...)."""
    groups = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset) and "/" in name:
            parent, leaf = name.rsplit("/", 1)
            if leaf.isdigit():
                groups.setdefault(parent, []).append((int(leaf), name))

    with h5py.File(path, "r") as handle:
        handle.visititems(visit)
        return {
            parent: [(name, handle[name].shape) for _, name in sorted(items)]
            for parent, items in groups.items()
        }


def remap_weights(source_path, model, out_path):
    """Write ``out_path`` in ``model``'s own layout, filled from ``source_path`` by shapes."""
    own_path = out_path + ".own.weights.h5"
    model.save_weights(own_path)
    try:
        wanted = variable_groups(own_path)
        available = variable_groups(source_path)
        plan = {}
        for group, arrays in wanted.items():
            shapes = [shape for _, shape in arrays]
            fits = [g for g, a in available.items() if [shape for _, shape in a] == shapes]
            if len(fits) != 1:
                raise ValueError(f"{group}: {len(fits)} groups of {source_path} have the shapes {shapes}")
            plan[group] = fits[0]
        os.replace(own_path, out_path)
    finally:
        if os.path.exists(own_path):
            os.remove(own_path)
    with h5py.File(source_path, "r") as source, h5py.File(out_path, "r+") as target:
        for group, source_group in plan.items():
            for (target_name, _), (source_name, _) in zip(wanted[group], available[source_group]):
                target[target_name][...] = source[source_name][()]
    return plan
