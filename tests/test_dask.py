"""pyrnn on a Dask LocalCluster of worker processes (skipped without the ``dask`` extra).

One small cluster (2 worker processes x 1 thread) serves every test of this module:
thread matching and a joblib-dask grid search, block-wise prediction of dask arrays,
dataframes and bags, and data-parallel training checked against single-process training.
"""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

import pyrnn
from pyrnn import RNNClassifier

da = pytest.importorskip("dask.array")
db = pytest.importorskip("dask.bag")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pdask = pytest.importorskip("pyrnn.dask")  # needs the two above
final_state_loss, global_batches = pdask.final_state_loss, pdask.global_batches
match_worker_threads, predict_blocks = pdask.match_worker_threads, pdask.predict_blocks
train_data_parallel = pdask.train_data_parallel

N, T, F = 96, 7, 3


@pytest.fixture(scope="module")
def client():
    # The scheduler's HTTP server (dashboard, health and metrics routes) on a free port: with
    # dashboard_address=None it still takes 8787 and warns when another cluster holds it,
    # which this suite's filterwarnings=error turns into a failed start.
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0"
    )
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, T, F)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(np.int64)
    lengths = rng.integers(2, T + 1, N)
    return X, y, lengths


@pytest.fixture(scope="module")
def fitted(data):
    X, y, _ = data
    return RNNClassifier(hidden_size=8, max_epochs=2, random_state=0).fit(X, y)


# ---------------------------------------------------------------- searches


def test_match_worker_threads(client):
    client.run(pyrnn.engine.set_num_threads, 5)  # a pool that does not fit the worker
    threads = match_worker_threads(client)
    workers = client.scheduler_info()["workers"]
    assert threads == {addr: w["nthreads"] for addr, w in workers.items()} and len(threads) == 2


def test_grid_search_on_joblib_dask_backend(client, data):
    X, y, _ = data
    match_worker_threads(client)
    grid = {"hidden_size": [4, 8]}
    model = RNNClassifier(max_epochs=2, random_state=0)
    local = GridSearchCV(model, grid, cv=2).fit(X, y)
    with joblib.parallel_config(backend="dask"):
        remote = GridSearchCV(model, grid, cv=2, n_jobs=-1).fit(X, y)
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))


# ---------------------------------------------------------------- prediction


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_predict_blocks_array(client, data, fitted, method):
    X = data[0]
    out = predict_blocks(fitted, da.from_array(X, chunks=(25, T, 2)), method)
    assert out.chunks[0] == (25, 25, 25, 21)
    np.testing.assert_array_equal(out.compute(), getattr(fitted, method)(X))


def test_predict_blocks_dataframe_and_bag(client, data, fitted):
    pd = pytest.importorskip("pandas")
    X, y, lengths = data
    univariate = RNNClassifier(hidden_size=8, max_epochs=2, random_state=0).fit(X[:, :, 0], y)
    frame = dd.from_pandas(pd.DataFrame(X[:, :, 0]), npartitions=3)
    np.testing.assert_array_equal(
        predict_blocks(univariate, frame).compute(), univariate.predict(X[:, :, 0])
    )
    seqs = [X[i, : lengths[i]] for i in range(N)]  # ragged
    bag = db.from_sequence(seqs, npartitions=4)
    np.testing.assert_array_equal(
        np.array(predict_blocks(fitted, bag, "predict_proba").compute()), fitted.predict_proba(seqs)
    )


def test_predict_blocks_rejects(fitted, data):
    with pytest.raises(TypeError, match="dask.array, dask.dataframe or dask.bag"):
        predict_blocks(fitted, data[0])
    with pytest.raises(TypeError, match="no method 'no_such_method'"):
        predict_blocks(fitted, da.from_array(data[0]), "no_such_method")


# ---------------------------------------------------------------- data-parallel training


def model(cell=pyrnn.GRU):
    net = cell(F, 12, random_state=0)
    head = pyrnn.heads.Linear(12, 2, random_state=1)
    return net, head, pyrnn.optim.Adam([net, head], lr=1e-2)


def single_process_curve(X, y, lengths, batches):
    net, head, opt = model()
    curve = []
    for b in batches:
        opt.zero_grad()
        curve.append(final_state_loss(net, head, X[b], y[b], lengths[b], "softmax_cross_entropy"))
        opt.step()
    return np.array(curve), np.concatenate([net.params, head.params])


def test_data_parallel_training_matches_single_process(client, data):
    X, y, lengths = data
    X_dask = da.from_array(X, chunks=(30, T, F))  # 4 partitions over 2 workers
    first_worker = sorted(client.scheduler_info()["workers"])[:1]
    runs = []
    for workers in (None, None, first_worker):  # twice on both workers, once on one
        net, head, opt = model()
        result = train_data_parallel(
            client,
            net,
            head,
            opt,
            X_dask,
            y,
            lengths=lengths,
            batch_size=32,
            epochs=2,
            random_state=3,
            workers=workers,
        )
        runs.append((np.array(result.loss_curve), np.concatenate([net.params, head.params])))
        assert len(result.step_seconds) == len(result.shard_seconds) == 6
        assert 0.0 <= result.communication_share < 1.0
    for curve, params in runs[1:]:  # bitwise identical across runs and worker counts
        np.testing.assert_array_equal(curve, runs[0][0])
        np.testing.assert_array_equal(params, runs[0][1])
    ref_curve, ref_params = single_process_curve(
        X, y, lengths, global_batches(N, 32, 2, random_state=3)
    )
    np.testing.assert_allclose(runs[0][0], ref_curve, rtol=1e-5)
    np.testing.assert_allclose(runs[0][1], ref_params, rtol=1e-4, atol=1e-5)
    assert ref_curve[-1] < ref_curve[0]  # it learned


def test_data_parallel_scatters_under_fresh_keys(client, data, monkeypatch):
    # A content-hashed scatter key repeats for an equal model in the next call, and the
    # scheduler may apply the previous call's release of that key after the new scatter:
    # the step is then cancelled for "lost dependencies" (an intermittent failure of the
    # test above before every scatter passed hash=False).
    X, y, _ = data
    calls = []
    scatter = client.scatter

    def spy(*args, **kwargs):
        calls.append(kwargs.get("hash", True))
        return scatter(*args, **kwargs)

    monkeypatch.setattr(client, "scatter", spy)
    net, head, opt = model()
    train_data_parallel(
        client, net, head, opt, da.from_array(X, chunks=(48, T, F)), y, batch_size=N
    )
    assert calls == [False, False]  # the model once, the parameters of the one step


def test_data_parallel_mse_clipping_batch_first(client, data):
    X, _, _ = data
    target = X[:, :, :2].mean(1).astype(np.float32)  # (N, 2) regression
    batches = global_batches(N, 48, 1, shuffle=False)

    def build():
        net = pyrnn.LSTM(F, 6, batch_first=True, bidirectional=True, random_state=0)
        head = pyrnn.heads.Linear(12, 2, random_state=1)
        return net, head, pyrnn.optim.SGD([net, head], lr=0.1, momentum=0.9)

    net, head, opt = build()
    result = train_data_parallel(
        client,
        net,
        head,
        opt,
        da.from_array(X, chunks=(40, T, F)),
        da.from_array(target, chunks=(40, 2)),
        loss="mse",
        batch_size=48,
        shuffle=False,
        max_norm=0.5,
    )
    ref_net, ref_head, ref_opt = build()
    for b, value in zip(batches, result.loss_curve):
        ref_opt.zero_grad()
        assert final_state_loss(ref_net, ref_head, X[b], target[b], None, "mse") == pytest.approx(
            value, rel=1e-5
        )
        pyrnn.clip.clip_grad_norm([ref_net.grad, ref_head.grad], 0.5)
        ref_opt.step()
    np.testing.assert_allclose(net.params, ref_net.params, rtol=1e-4, atol=1e-6)


def test_data_parallel_rejects(client, data):
    X, y, _ = data
    net, head, opt = model()
    X_dask = da.from_array(X)
    with pytest.raises(TypeError, match="dask.array"):
        train_data_parallel(client, net, head, opt, X, y)
    with pytest.raises(ValueError, match="loss must be one of"):
        train_data_parallel(client, net, head, opt, X_dask, y, loss="hinge")
    with pytest.raises(ValueError, match="y has 10 rows"):
        train_data_parallel(client, net, head, opt, X_dask, y[:10])
    with pytest.raises(ValueError, match="the optimizer must update"):
        train_data_parallel(client, net, head, pyrnn.optim.SGD([net], lr=0.1), X_dask, y)
    dropout_net = pyrnn.GRU(F, 12, num_layers=2, dropout=0.5)
    with pytest.raises(ValueError, match="dropout=0"):
        train_data_parallel(
            client, dropout_net, head, pyrnn.optim.SGD([dropout_net, head], lr=0.1), X_dask, y
        )
