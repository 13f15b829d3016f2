"""Which dataset an evaluation reads: the one given, the backbone's own, or the one the episodes
name; refused where the episodes and the dataset disagree."""

from __future__ import annotations

from ..episodes import EpisodeSet


def evaluation_dataset(sets: list[EpisodeSet], dataset, loaded, data_root):
    """The dataset the episodes index: ``dataset`` (a spec or a loaded one), else the run's own when the
    episodes are of its data, else the episodes' dataset by its identity (a registered name).

    Raises:
        ValueError: for episodes of several datasets, episodes of another dataset than ``dataset``,
            or episodes of a ``folder:`` dataset other than the run's (its path is needed).
    """
    from ..data import FewShotDataset, create_dataset, dataset_id

    named = sorted({es.dataset for es in sets if es.dataset})
    if dataset is not None:
        identity = dataset.name if isinstance(dataset, FewShotDataset) else dataset_id(str(dataset))
        other = [d for d in named if d != identity]
        if other:
            raise ValueError(
                f"the episodes were drawn from dataset {other[0]!r}, not from --dataset {identity!r}; "
                f"pass --dataset {other[0]} (or its folder:PATH), or episodes of {identity!r}"
            )
        if isinstance(dataset, FewShotDataset):
            return dataset
        return create_dataset(str(dataset), root=data_root)
    if len(named) > 1:
        raise ValueError(
            f"the episodes come from {len(named)} datasets ({', '.join(named)}); evaluate one "
            "dataset at a time"
        )
    identity = named[0] if named else loaded.dataset_id
    if identity == loaded.dataset_id and loaded.dataset:
        return create_dataset(loaded.dataset, root=data_root)
    if not named:
        raise ValueError(
            "the episodes do not name their dataset and the backbone has no training data to assume; "
            "pass --dataset"
        )
    if identity.startswith("folder:"):
        raise ValueError(
            f"the episodes are of the folder dataset {identity!r}, which the run was not trained on: "
            f"pass its path, --dataset folder:PATH[::SPLITFILE]"
        )
    return create_dataset(identity, root=data_root)


def named_dataset(sets: list[EpisodeSet], dataset, data_root):
    """The evaluation dataset of a backbone with no training data of its own: ``dataset`` (a spec
    or a loaded one), else the one dataset the episodes name.

    Raises:
        ValueError: when ``dataset`` is None and the episodes name no dataset, several, or a
            ``folder:`` one (its path is needed).
    """
    from ..data import FewShotDataset, create_dataset

    if dataset is None:
        named = sorted({es.dataset for es in sets if es.dataset})
        if len(named) != 1 or named[0].startswith("folder:"):
            raise ValueError(
                "pass --dataset: the evaluation dataset cannot be told from the episodes "
                f"({', '.join(named) or 'they name none'})"
            )
        dataset = named[0]
    if isinstance(dataset, FewShotDataset):
        return dataset
    return create_dataset(str(dataset), root=data_root)
