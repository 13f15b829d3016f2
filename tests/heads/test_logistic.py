import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from fewshot_clce.heads import HEADS, CentroidHead, LogisticHead, create_head, head_needs_base_mean
from fewshot_clce.heads.logistic_solver import fit_logistic, objective


def _episodes(E=40, ways=5, shots=5, queries=6, D=32, sep=0.6, seed=0):
    """Class-structured random episodes: support [E, N*K, D], labels [E, N*K], query [E, N*Q, D]."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(E, ways, 1, D)) * sep
    s = (mu + rng.normal(size=(E, ways, shots, D))).reshape(E, ways * shots, D)
    q = (mu + rng.normal(size=(E, ways, queries, D))).reshape(E, ways * queries, D)
    sl = np.repeat(np.arange(ways), shots)[None].repeat(E, 0)
    ql = np.repeat(np.arange(ways), queries)
    return (
        torch.tensor(s, dtype=torch.float32),
        torch.tensor(sl),
        torch.tensor(q, dtype=torch.float32),
        ql,
    )


def _naive_centroid(s, sl, q, ways, metric, base_mean=None):
    out = np.zeros(q.shape[:2], dtype=np.int64)
    for e in range(len(s)):
        xs, xq = s[e].double().numpy(), q[e].double().numpy()
        if base_mean is not None:
            xs = xs - base_mean.numpy()
            xq = xq - base_mean.numpy()
            xs /= np.linalg.norm(xs, axis=1, keepdims=True)
            xq /= np.linalg.norm(xq, axis=1, keepdims=True)
        protos = np.stack([xs[sl[e].numpy() == c].mean(0) for c in range(ways)])
        for m in range(len(xq)):
            if metric == "cosine":
                sc = [xq[m] @ p / np.linalg.norm(xq[m]) / np.linalg.norm(p) for p in protos]
            else:
                sc = [-np.sum((xq[m] - p) ** 2) for p in protos]
            out[e, m] = int(np.argmax(sc))
    return out


@pytest.mark.parametrize("name,metric", [("centroid", "euclidean"), ("centroid_cosine", "cosine")])
def test_centroid_matches_naive_loop(name, metric):
    s, sl, q, _ = _episodes()
    pred = create_head(name).predict(s, sl, q, 5).numpy()
    np.testing.assert_array_equal(pred, _naive_centroid(s, sl, q, 5, metric))


def test_centroid_cl2n_matches_naive_loop_and_needs_base_mean():
    s, sl, q, _ = _episodes(seed=3)
    base_mean = torch.randn(s.shape[2], generator=torch.Generator().manual_seed(1))
    pred = create_head("centroid_cl2n", base_mean=base_mean).predict(s, sl, q, 5).numpy()
    np.testing.assert_array_equal(pred, _naive_centroid(s, sl, q, 5, "euclidean", base_mean))
    with pytest.raises(ValueError, match="base_mean"):
        create_head("centroid_cl2n")


@pytest.mark.parametrize("ways", [5, 3, 2])
def test_logistic_agrees_with_sklearn_and_reaches_its_optimum(ways):
    s, sl, q, _ = _episodes(E=12, ways=ways, D=48, seed=ways)
    sn = torch.nn.functional.normalize(s.double(), dim=-1)
    qn = torch.nn.functional.normalize(q.double(), dim=-1)
    ours = LogisticHead().predict(s, sl, q, ways).numpy()
    fit = fit_logistic(sn, sl, ways)
    agree = 0
    for e in range(len(s)):
        m = LogisticRegression(C=1.0, max_iter=1000, tol=1e-10).fit(sn[e].numpy(), sl[e].numpy())
        agree += (m.predict(qn[e].numpy()) == ours[e]).sum()
        w, b = torch.tensor(m.coef_)[None], torch.tensor(m.intercept_)[None]
        f_sk = objective(w, b, sn[e : e + 1], sl[e : e + 1]).item()
        f_ours = objective(
            fit.weight[e : e + 1], fit.bias[e : e + 1], sn[e : e + 1], sl[e : e + 1]
        ).item()
        # Same objective, same optimum: ours is at least as low and within solver tolerance.
        assert f_ours <= f_sk + 1e-9
        assert f_sk - f_ours < 1e-5 * max(1.0, f_sk)
    assert agree / ours.size >= 0.995


def test_logistic_gradient_vanishes_at_solution():
    s, sl, _, _ = _episodes(E=6, D=20, seed=7)
    x = torch.nn.functional.normalize(s.double(), dim=-1)
    fit = fit_logistic(x, sl, 5)
    w = fit.weight.clone().requires_grad_(True)
    b = fit.bias.clone().requires_grad_(True)
    objective(w, b, x, sl).sum().backward()
    assert w.grad.abs().max() < 1e-7 and b.grad.abs().max() < 1e-7


def test_logistic_handles_repeated_support_samples():
    s, sl, q, _ = _episodes(E=4, D=16, seed=2)
    s[:, 1] = s[:, 0]  # a repeated image makes the support rank-deficient
    pred = LogisticHead().predict(s, sl, q, 5)
    assert pred.shape == q.shape[:2]


@pytest.mark.parametrize("name", ["centroid", "centroid_cosine", "logistic"])
def test_chunking_does_not_change_predictions(name):
    s, sl, q, _ = _episodes(E=23, seed=11)
    full = create_head(name, chunk_size=1000).predict(s, sl, q, 5)
    for chunk in (1, 4, 7):
        torch.testing.assert_close(create_head(name, chunk_size=chunk).predict(s, sl, q, 5), full)


@pytest.mark.parametrize("name", HEADS.list())
def test_every_head_contract(name):
    s, sl, q, ql = _episodes(E=9, sep=3.0, seed=5)
    opts = {"base_mean": torch.zeros(s.shape[2])} if head_needs_base_mean(name) else {}
    head = create_head(name, **opts)
    pred = head.predict(s.numpy(), sl.numpy(), q.numpy(), 5)  # numpy input is accepted
    assert pred.shape == (9, q.shape[1]) and pred.dtype == torch.int64
    assert (pred.numpy() == ql).mean() > 0.9  # well separated classes are found
    assert head.predict(s[:0], sl[:0], q[:0], 5).shape == (0, q.shape[1])


def test_bad_input_is_named():
    s, sl, q, _ = _episodes(E=2)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        CentroidHead().predict(s, sl, q, 3)
    with pytest.raises(ValueError, match="feature width"):
        CentroidHead().predict(s, sl, q[..., :5], 5)
    with pytest.raises(ValueError, match="metric"):
        CentroidHead(metric="manhattan")
    with pytest.raises(KeyError, match="valid names"):
        create_head("svm")


def test_logistic_warns_when_not_converged():
    s, sl, q, _ = _episodes(E=3, seed=4)
    with pytest.warns(UserWarning, match="did not converge"):
        LogisticHead(max_iter=1, tol=1e-12).predict(s, sl, q, 5)


def test_heads_are_classes_with_labels_from_their_options():
    from fewshot_clce.heads import Head

    assert all(
        isinstance(HEADS.get(n), type) and issubclass(HEADS.get(n), Head) for n in HEADS.list()
    )
    with pytest.raises(TypeError):
        Head()  # abstract: a head must implement _predict_chunk
    assert create_head("logistic").label == "logistic"
    assert create_head("logistic[C=0.1]").label == "logistic[C=0.1]"
    assert (
        create_head("logistic", C=0.1, chunk_size=8).label == "logistic[C=0.1]"
    )  # chunking is not a setting
    assert create_head("centroid[metric=cosine]").label == "centroid[metric=cosine]"
    assert create_head("centroid_cosine").label == "centroid_cosine"
    assert HEADS.options("logistic")["C"] == 1.0


def test_head_options_are_validated_by_the_registry():
    with pytest.raises(
        ValueError,
        match=r"head 'logistic' takes C, normalize, tol, max_iter, chunk_size; got unknown k",
    ):
        create_head("logistic[k=3]")
    with pytest.raises(ValueError, match=r"head 'centroid' takes .*got unknown base_mean"):
        create_head("centroid[base_mean=1]")  # data, not a setting
    with pytest.raises(ValueError, match="not key=value"):
        create_head("logistic[C]")
    with pytest.raises(ValueError, match="C must be positive"):
        create_head("logistic[C=-1]")


def test_two_configurations_of_one_head_are_two_results():
    from fewshot_clce.episodes import sample_episodes
    from fewshot_clce.evaluation import evaluate_features
    from fewshot_clce.features import FeatureTable

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 20)
    feats = FeatureTable(
        np.arange(120),
        torch.tensor(rng.normal(size=(120, 8)) + labels[:, None], dtype=torch.float32),
    )
    eps = sample_episodes(
        labels, ways=5, shots=2, queries=3, episodes=6, seed=0, dataset="toy", split_name="novel"
    )
    df = evaluate_features(feats, eps, ["logistic", "logistic[C=0.01]"])
    assert sorted(df["head"].unique()) == ["logistic", "logistic[C=0.01]"]
    assert len(df) == 12
    with pytest.raises(ValueError, match="both 'logistic'"):
        evaluate_features(feats, eps, ["logistic", "logistic[C=1]"])


def test_logistic_from_gram_with_folded_normalisation_is_the_same_fit():
    """fit_logistic_gram on a rescaled Gram matrix (the head folds L2 normalisation into it)
    gives the weights fit_logistic finds on the normalised features."""
    from fewshot_clce.heads.logistic_solver import fit_logistic_gram

    s, sl, _, _ = _episodes(E=5, D=40, seed=8)
    x = s.double()
    inv = x.norm(dim=2).reciprocal()  # [E, n]
    gram = (x @ x.mT) * inv.unsqueeze(2) * inv.unsqueeze(1)
    by_gram = fit_logistic_gram(gram, sl, 5)
    direct = fit_logistic(torch.nn.functional.normalize(x, dim=-1), sl, 5)
    torch.testing.assert_close(
        (by_gram.coef * inv.unsqueeze(1)) @ x, direct.weight, rtol=0, atol=1e-9
    )
    torch.testing.assert_close(by_gram.bias, direct.bias, rtol=0, atol=1e-9)


@pytest.mark.parametrize("normalize", ["none", "l2n", "cl2n"])
def test_logistic_head_scores_queries_as_the_fitted_model_does(normalize):
    """The head folds the normalisation into the Gram matrix and the query logits; its predictions
    are those of the model fitted on explicitly transformed features."""
    from fewshot_clce.heads.base import transform
    from fewshot_clce.heads.logistic_solver import logits_from

    s, sl, q, _ = _episodes(E=7, D=24, seed=9)
    base_mean = (
        torch.randn(24, generator=torch.Generator().manual_seed(2)) if normalize == "cl2n" else None
    )
    head = LogisticHead(normalize=normalize, base_mean=base_mean)
    xs, xq = (
        transform(s.double(), normalize, base_mean),
        transform(q.double(), normalize, base_mean),
    )
    fit = fit_logistic(xs, sl, 5)
    want = logits_from(fit.weight, fit.bias, xq).argmax(2)
    assert (head.predict(s, sl, q, 5) == want).float().mean() == 1.0


def test_logistic_converges_where_probabilities_saturate():
    """Well separated classes and a weak penalty (C=100): the Hessian is far from its value at 0,
    where the preconditioner is exact; Newton-CG still reaches scikit-learn's optimum."""
    s, sl, _, _ = _episodes(E=6, D=30, sep=3.0, seed=12)
    x = torch.nn.functional.normalize(s.double(), dim=-1)
    fit = fit_logistic(x, sl, 5, C=100.0)
    w = fit.weight.clone().requires_grad_(True)
    b = fit.bias.clone().requires_grad_(True)
    objective(w, b, x, sl, C=100.0).sum().backward()
    assert w.grad.abs().max() < 1e-6 and b.grad.abs().max() < 1e-6
    for e in range(len(x)):
        m = LogisticRegression(C=100.0, max_iter=5000, tol=1e-10).fit(x[e].numpy(), sl[e].numpy())
        f_sk = objective(
            torch.tensor(m.coef_)[None],
            torch.tensor(m.intercept_)[None],
            x[e : e + 1],
            sl[e : e + 1],
            C=100.0,
        ).item()
        assert (
            objective(
                fit.weight[e : e + 1], fit.bias[e : e + 1], x[e : e + 1], sl[e : e + 1], C=100.0
            ).item()
            <= f_sk + 1e-9
        )


@pytest.mark.parametrize("chunk,workers", [(1, 1), (3, 2), (7, 3), (100, None)])
def test_episode_predictions_gather_per_chunk_as_one_call_would(chunk, workers, monkeypatch):
    from fewshot_clce.episodes import sample_episodes
    from fewshot_clce.evaluation import episode_accuracies, episode_predictions
    from fewshot_clce.features import FeatureTable

    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(7), 12)
    feats = FeatureTable(
        np.arange(84),
        torch.tensor(rng.normal(size=(84, 10)) + labels[:, None] * 0.3, dtype=torch.float32),
    )
    eps = sample_episodes(labels, ways=5, shots=2, queries=4, episodes=10, seed=1)
    from fewshot_clce.evaluation import episodic

    monkeypatch.setattr(
        episodic, "QUERY_BLOCK", 2
    )  # queries gathered in blocks smaller than a chunk
    for name in ("logistic", "centroid", "centroid_cosine"):
        head = create_head(name)
        want = head.predict(
            feats.lookup(eps.flat_support()),
            torch.from_numpy(eps.support_labels()).expand(10, -1),
            feats.lookup(eps.flat_query()),
            5,
        )
        threads = torch.get_num_threads()
        got = episode_predictions(feats, eps, head, chunk_size=chunk, workers=workers)
        assert torch.get_num_threads() == threads  # the workers' one-thread setting is given back
        torch.testing.assert_close(got, want)
        np.testing.assert_allclose(
            episode_accuracies(feats, eps, head, chunk_size=chunk),
            (want.numpy() == eps.query_labels()).mean(1),
        )
    with pytest.raises(ValueError, match="chunk_size"):
        episode_predictions(feats, eps, head, chunk_size=0)
    with pytest.raises(ValueError, match="workers must be a positive number of threads, got 0"):
        episode_predictions(feats, eps, head, workers=0)


def test_a_failure_in_a_worker_thread_reaches_the_caller():
    """Features missing for some episode: the KeyError raised in a worker is raised by the call."""
    from fewshot_clce.episodes import sample_episodes
    from fewshot_clce.evaluation import episode_predictions
    from fewshot_clce.features import FeatureTable

    labels = np.repeat(np.arange(6), 10)
    eps = sample_episodes(labels, ways=5, shots=1, queries=3, episodes=40, seed=0)
    used = eps.used_indices()
    partial = FeatureTable(used[:-1], torch.ones(len(used) - 1, 4))  # the last used sample has none
    with pytest.raises(KeyError, match=rf"1 samples have no features \(e.g. \[{used[-1]}\]\)"):
        episode_predictions(partial, eps, create_head("logistic"), chunk_size=4, workers=2)


def test_logistic_weights_are_recomputed_in_float64_where_the_support_cancels():
    """Two nearly identical support samples of different classes get large coefficients of opposite
    signs; their float32 combination would lose most digits of the weights."""
    from fewshot_clce.heads.logistic import _weights

    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 64, generator=g, dtype=torch.float64)
    x[0, 1] = x[0, 0] + 1e-4 * torch.randn(64, generator=g, dtype=torch.float64)
    coef = torch.tensor([[[3e3, -3e3, 0.5, 0.1]]], dtype=torch.float64)  # [1, 1, 4]
    x32 = x.float()
    want = coef @ x32.double()  # the exact product of the float32 features
    plain = coef.float() @ x32
    rel = lambda w: float((w.double() - want).norm() / want.norm())  # noqa: E731
    assert rel(plain) > 1e-4  # the float32 product is visibly wrong here ...
    assert rel(_weights(coef, x32, x32.double().norm(dim=2))) < 1e-7  # ... the head's is not


def test_episodes_already_at_the_optimum_at_zero_leave_the_solver_untouched():
    """Identical support features of balanced classes: the gradient at W = 0 is exactly zero, so the
    episode converges before the first Newton step (it once failed writing its state back)."""
    x = torch.ones(3, 10, 4, dtype=torch.float64)
    x[1] = torch.randn(
        10, 4, generator=torch.Generator().manual_seed(0)
    )  # a normal episode beside them
    y = torch.arange(5).repeat(2).expand(3, -1)
    fit = fit_logistic(x, y, 5)
    assert fit.weight[0].abs().max() == 0 and fit.bias[0].abs().max() == 0
    assert fit.weight[1].abs().max() > 0
    pred = LogisticHead().predict(x.float(), y, torch.ones(3, 5, 4), 5)
    assert pred.shape == (3, 5)
