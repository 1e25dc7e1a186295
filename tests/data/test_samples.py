import numpy as np
import pytest
from PIL import Image

from edgeattn.data import Preprocessing, load_samples, random_samples
from edgeattn.errors import InputError

SIZE = (3, 16, 16)


def _write_image(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 20, 3), value, dtype=np.uint8), "RGB").save(path)


def test_class_subfolders_give_imagefolder_labels(tmp_path):
    ImageFolder = pytest.importorskip("torchvision.datasets").ImageFolder  # none in the runtime-only run

    for cls, n in (("zebra", 2), ("ant", 3), ("cat", 1)):
        for i in range(n):
            _write_image(tmp_path / cls / f"{i}.png", 10 * i)
    samples = load_samples(tmp_path, input_size=SIZE)
    reference = ImageFolder(str(tmp_path))
    assert samples.class_names == reference.classes == ["ant", "cat", "zebra"]
    assert samples.labels.tolist() == [t for _, t in reference.samples]
    assert samples.paths == [p for p, _ in reference.samples]
    assert samples.arrays.shape == (6, *SIZE) and samples.arrays.dtype == np.float32


def test_flat_folder_has_no_labels_and_limit_spreads(tmp_path):
    for i in range(5):
        _write_image(tmp_path / f"img{i}.jpg", 40 * i)
    (tmp_path / "notes.txt").write_text("not an image")
    samples = load_samples(tmp_path, input_size=SIZE)
    assert samples.labels is None and len(samples) == 5
    limited = load_samples(tmp_path, input_size=SIZE, limit=2)
    assert [p.rsplit("/", 1)[-1] for p in limited.paths] == ["img0.jpg", "img4.jpg"]


def test_limit_keeps_every_class(tmp_path):
    for cls in ("a", "b", "c"):
        for i in range(4):
            _write_image(tmp_path / cls / f"{i}.png", i)
    samples = load_samples(tmp_path, input_size=SIZE, limit=3)
    assert sorted(samples.labels.tolist()) == [0, 1, 2]


def test_preprocessing_is_applied(tmp_path):
    _write_image(tmp_path / "x.png", 255)
    pre = Preprocessing(input_size=SIZE, mean=(0.0, 0.0, 0.0), std=(0.5, 0.5, 0.5))
    samples = load_samples(tmp_path, input_size=SIZE, preprocessing=pre)
    np.testing.assert_allclose(samples.arrays, 2.0, atol=1e-6)


def test_empty_folder_and_empty_class(tmp_path):
    with pytest.raises(InputError, match="empty"):
        load_samples(tmp_path, input_size=SIZE)
    _write_image(tmp_path / "a" / "0.png", 1)
    (tmp_path / "b").mkdir()
    with pytest.raises(InputError, match="holds no images"):
        load_samples(tmp_path, input_size=SIZE)


def test_unreadable_image_names_the_file(tmp_path):
    _write_image(tmp_path / "good.png", 1)
    (tmp_path / "broken.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(InputError, match="broken.jpg"):
        load_samples(tmp_path, input_size=SIZE)


def test_npy_batched_and_single(tmp_path):
    data = np.random.default_rng(0).normal(size=(4, *SIZE)).astype(np.float64)
    np.save(tmp_path / "x.npy", data)
    samples = load_samples(tmp_path / "x.npy", input_size=SIZE)
    assert samples.arrays.dtype == np.float32
    np.testing.assert_allclose(samples.arrays, data.astype(np.float32))
    np.save(tmp_path / "one.npy", data[0])
    assert load_samples(tmp_path / "one.npy", input_size=SIZE).arrays.shape == (1, *SIZE)


def test_npy_wrong_shape_and_nhwc_hint(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((2, 16, 16, 3), np.float32))
    with pytest.raises(InputError) as info:
        load_samples(tmp_path / "bad.npy", input_size=SIZE)
    assert "[2, 16, 16, 3]" in info.value.message and "NCHW" in info.value.hint
    np.save(tmp_path / "flat.npy", np.zeros((10,), np.float32))
    with pytest.raises(InputError, match="received shape"):
        load_samples(tmp_path / "flat.npy", input_size=SIZE)


def test_npz_keys_and_labels(tmp_path):
    x = np.ones((3, *SIZE), np.float32)
    np.savez(tmp_path / "one.npz", data=x, labels=np.array([0, 2, 1]))
    samples = load_samples(tmp_path / "one.npz", input_size=SIZE)
    assert samples.labels.tolist() == [0, 2, 1]
    np.savez(tmp_path / "two.npz", input=x, other=x)
    with pytest.raises(InputError, match="expected one input array"):
        load_samples(tmp_path / "two.npz", input_size=SIZE)
    assert len(load_samples(tmp_path / "two.npz", input_size=SIZE, input_name="input")) == 3
    np.savez(tmp_path / "badlab.npz", x=x, labels=np.array([0.5, 1, 2]))
    with pytest.raises(InputError, match="integer class indices"):
        load_samples(tmp_path / "badlab.npz", input_size=SIZE)


def test_unknown_file_type_and_missing(tmp_path):
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(InputError, match=".csv"):
        load_samples(tmp_path / "x.csv")
    with pytest.raises(InputError, match="not found"):
        load_samples(tmp_path / "nope.npy")


def test_random_samples_are_seeded():
    a = random_samples(SIZE, 3, seed=7)
    b = random_samples(SIZE, 3, seed=7)
    c = random_samples(SIZE, 3, seed=8)
    assert np.array_equal(a.arrays, b.arrays) and not np.array_equal(a.arrays, c.arrays)
    assert list(a.batches(2))[1].shape == (1, *SIZE)
