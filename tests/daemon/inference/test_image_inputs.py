"""A vision policy's image input through the model I/O contract: the camera's newest frame, encoded by the image
encoder straight into the model's input buffer each step (real ONNX Runtime, real encoder); a stale camera is a
fault; a mismatched encoder or a camera that is not required is refused with the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepilot.daemon.action.twist import TwistActionMapper
from edgepilot.daemon.config.profile import ProfileError
from edgepilot.daemon.image.encoder import ImageEncoder
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.safety.watchdog import Watchdog
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest
from edgepilot.daemon.tick import ControlTick
from edgepilot.engines.backend import BackendError
from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend
from tests.daemon.inference.profiles import profile_for
from tests.daemon.inference.recurrent_models import vision_model

pytest.importorskip("cv2", reason="the image encoder needs OpenCV (the 'images' extra)")
ENCODER = {"network_image_width": 32, "network_image_height": 24, "keep_aspect_ratio": False}
IMAGE = {"image": {"source": "image", "stream": "camera", "encoder": ENCODER}}
PERIOD_NS = 20_000_000


class VisionRig:
    def __init__(self, tmp: Path, **engine: object) -> None:
        model = tmp / "vision.onnx"
        vision_model(model)
        engine.setdefault("inputs", IMAGE)
        self.profile = p = profile_for(model, tmp, **engine)
        self.ingests = {n: make_ingest(n, c, None, p) for n, c in p.streams.items()}
        snaps = {n: StreamSnapshot(i) for n, i in self.ingests.items()}
        self.backend = OnnxRuntimeBackend(model)
        self.watchdog = Watchdog(p.streams, p.watchdog.recovery_ticks)
        odometry = WheelOdometry(p.odometry.wheel_radius_m)
        self.now = 10**10
        self.tick = ControlTick(p, snaps, self.backend, ObservationBuilder(p, snaps, odometry),
                                TwistActionMapper(p.action, np.float32), self.watchdog, odometry=odometry,
                                clock_ns=lambda: self.now)
        self.tick.started(self.now)
        self.frame = np.zeros(self.ingests["camera"].ring.shape, np.uint8)

    def step(self, *skip: str) -> np.ndarray:
        samples = {"joint_states": np.array([[0.0, 0.0], [1.0, 1.0]]), "imu": np.eye(1, 10, 9)[0], "camera": self.frame}
        for name, sample in samples.items():
            if name not in skip:
                self.ingests[name].ring.write(sample, self.now)
        command = self.tick.step(self.now).copy()
        self.now += PERIOD_NS
        return command


def test_the_newest_frame_is_encoded_into_the_model_input_each_step(tmp_path: Path) -> None:
    rig = VisionRig(tmp_path)
    reference = ImageEncoder(rig.profile.engine.inputs["image"].encoder, rig.frame.shape, np.uint8)
    for _ in range(rig.profile.watchdog.recovery_ticks):
        dark = rig.step()
    assert rig.tick.ok
    rng = np.random.default_rng(0)
    rig.frame[:] = rng.integers(0, 256, rig.frame.shape, dtype=np.uint8)
    rig.frame[:, :, 0] = 255  # a red scene: the model's red-mean feature moves the command
    bright = rig.step()
    assert rig.tick.ok and np.abs(bright - dark).max() > 0.05
    np.testing.assert_array_equal(rig.backend.inputs["image"], reference.encode(rig.frame))
    assert rig.tick.images.stamps_ns[0] == rig.now - PERIOD_NS  # the frame this step used, on the loop's clock


def test_a_stale_camera_is_a_fault_for_a_vision_policy(tmp_path: Path) -> None:
    rig = VisionRig(tmp_path)
    for _ in range(rig.profile.watchdog.recovery_ticks):
        rig.step()
    assert rig.tick.ok
    max_age_ticks = int(rig.profile.streams["camera"].max_age_s * 1e9 / PERIOD_NS)
    for _ in range(max_age_ticks + 2):
        command = rig.step("camera")
    assert not rig.tick.ok and not command.any() and "stale:camera" in rig.watchdog.active_names()


def test_an_encoder_that_does_not_make_the_models_input_is_refused(tmp_path: Path) -> None:
    wrong = {"image": {"source": "image", "stream": "camera", "encoder": {**ENCODER, "tensor_layout": "NHWC"}}}
    with pytest.raises(BackendError, match=r"engine.inputs.image: the encoder makes \[1, 24, 32, 3\] float32 \(NHWC\) "
                                           r"but the model input is \[1, 3, 24, 32\] float32.*tensor_layout"):
        VisionRig(tmp_path, inputs=wrong)


def test_the_encoder_device_comes_from_the_profile(tmp_path: Path) -> None:
    """device: auto runs (on the CPU where no GPU is usable); device: cuda without one is refused with the fix."""
    from edgepilot.daemon.image.cuda_encoder import CudaImageEncoder, cuda_usable

    auto = {"image": {"source": "image", "stream": "camera", "encoder": {**ENCODER, "device": "auto"}}}
    rig = VisionRig(tmp_path, inputs=auto)
    rig.step()
    expected = CudaImageEncoder if cuda_usable()[0] else ImageEncoder
    assert isinstance(rig.tick.images._encode[0].__self__, expected)
    if cuda_usable()[0]:
        return
    cuda = {"image": {"source": "image", "stream": "camera", "encoder": {**ENCODER, "device": "cuda"}}}
    with pytest.raises(BackendError, match=r"engine.inputs.image: encoder.device: cuda .*set encoder.device: cpu"):
        VisionRig(tmp_path, inputs=cuda)


@pytest.mark.parametrize(("change", "needle"), [
    ({"stream": "imu"}, "engine.inputs.image.stream='imu' must name a camera stream (Image or CompressedImage); "
                        "camera streams: ['camera']"),
    ({"encoder": {**ENCODER, "network_image_width": 0}}, "engine.inputs.image.encoder.network_image_width"),
])
def test_image_input_errors_at_load(tmp_path: Path, change: dict, needle: str) -> None:
    model = tmp_path / "vision.onnx"
    vision_model(model)
    with pytest.raises(ProfileError) as err:
        profile_for(model, tmp_path, inputs={"image": {**IMAGE["image"], **change}})
    assert needle in str(err.value)


def test_the_camera_of_a_vision_policy_must_be_required(tmp_path: Path) -> None:
    import yaml

    from edgepilot.daemon.config.profile import load_profile
    from tests.shipped_profile import shipped_profile_data

    model = tmp_path / "vision.onnx"
    vision_model(model)
    d = shipped_profile_data()
    d["streams"]["camera"]["required"] = False
    d["engine"] = {"model": str(model), "output_name": "action", "inputs": IMAGE}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(d))
    with pytest.raises(ProfileError, match=r"streams.camera.required is false, but the policy sees its frames"):
        load_profile(tmp_path / "r.yaml")


def test_a_vision_tick_allocates_nothing(tmp_path: Path) -> None:
    import tracemalloc
    from itertools import repeat

    rig = VisionRig(tmp_path)
    for _ in repeat(None, 100):
        rig.step()
    tracemalloc.start()
    try:
        for _ in repeat(None, 100):
            rig.step()
        base, _ = tracemalloc.get_traced_memory()
        for _ in repeat(None, 500):
            rig.step()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rig.tick.ok
    # The rig's own step copies the command (48 B, freed); one encoded frame kept per tick would be 9 kB each.
    assert after - base <= 512, after - base
