"""The image encoder on the GPU: one NVRTC-compiled kernel per frame, same config and outputs as ImageEncoder.

Per frame: the ring sample is copied into a pinned host staging buffer, sent to the device asynchronously
(H2D on the encoder's own stream), and one kernel writes every output element (resize from the plan's tables,
crop/letterbox, colour order, scale/mean/std, NCHW/NHWC, fp32/fp16/uint8) into a device buffer allocated once:
:attr:`CudaImageEncoder.device_ptr` is what a TensorRT input binding takes. ``encode(sample, to_host=True)``
also copies it back (D2H) into :attr:`output` (pinned) for ONNX Runtime or checks. Nothing is allocated per
frame. The geometry and weights are computed in Python (daemon/image/cuda_plan.py, tested without a GPU); the
kernel is compiled for this encoder's types and layout only (``-D`` macros), so it has no per-pixel branches on
them. ``interp_type: area`` is refused (see encoder_config.py).

cuda-python is imported on construction, never at import: the daemon core imports this module without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgepilot.daemon.image.cuda_plan import KernelPlan
from edgepilot.daemon.image.encoder_config import ImageEncoderConfig

_SOURCE = r"""
// Specialised by -D: IN_T (sample element), IN_U8, IN_U16, IN_F32, CIN, COUT, OUT_T, OUT_U8, OUT_F16, NCHW.
struct Params {
    int in_w, net_w, net_h, pad_x, pad_y, content_w, content_h;
    int src_ch[3];
    float gain[3], offset[3], pad[3], invalid;
};

__device__ __forceinline__ float load(const IN_T* src, int y, int x, int c, int in_w) {
    float v = (float)src[(y * in_w + x) * CIN + c];
#ifdef IN_F32
    if (!isfinite(v)) v = 0.0f;  // replaced by the caller with p.invalid (kept branch-free here)
#endif
    return v;
}

__device__ __forceinline__ void store(OUT_T* out, int idx, float v) {
#if defined(OUT_U8)
    out[idx] = (unsigned char)fminf(255.0f, fmaxf(0.0f, rintf(v)));
#elif defined(OUT_F16)
    unsigned short h;  // fp16 bits by the conversion instruction: NVRTC has no CUDA headers on its search path
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    out[idx] = h;
#else
    out[idx] = v;
#endif
}

extern "C" __global__ void edgepilot_encode(const IN_T* __restrict__ src, OUT_T* __restrict__ out,
                                            const int* __restrict__ tables, const Params p) {
    int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= p.net_w || y >= p.net_h) return;
    int cx = x - p.pad_x, cy = y - p.pad_y;
    bool inside = cx >= 0 && cy >= 0 && cx < p.content_w && cy < p.content_h;
    int xi[4] = {0, 0, 0, 0}, yi[4] = {0, 0, 0, 0};
    float xw0 = 0.f, xw1 = 0.f, yw0 = 0.f, yw1 = 0.f;
    if (inside) {
        const int* xt = tables + 4 * cx;
        const int* yt = tables + 4 * p.content_w + 4 * cy;
        const float* wt = (const float*)(tables + 4 * (p.content_w + p.content_h));
        for (int k = 0; k < 4; ++k) { xi[k] = xt[k]; yi[k] = yt[k]; }
        xw0 = wt[2 * cx]; xw1 = wt[2 * cx + 1];
        yw0 = wt[2 * p.content_w + 2 * cy]; yw1 = wt[2 * p.content_w + 2 * cy + 1];
    }
    for (int c = 0; c < COUT; ++c) {
        float v = p.pad[c];
        if (inside) {
            int sc = p.src_ch[c];
#ifdef IN_U8
            // OpenCV's fixed point: 11-bit weights, >>4 before the vertical pass, then its SIMD rounding.
            int h0 = (int)src[(yi[0] * p.in_w + xi[0]) * CIN + sc] * xi[2] + (int)src[(yi[0] * p.in_w + xi[1]) * CIN + sc] * xi[3];
            int h1 = (int)src[(yi[1] * p.in_w + xi[0]) * CIN + sc] * xi[2] + (int)src[(yi[1] * p.in_w + xi[1]) * CIN + sc] * xi[3];
            int r = ((((h0 >> 4) * yi[2]) >> 16) + (((h1 >> 4) * yi[3]) >> 16) + 2) >> 2;
            float px = (float)min(255, max(0, r));
#else
            float a = load(src, yi[0], xi[0], sc, p.in_w), b = load(src, yi[0], xi[1], sc, p.in_w);
            float d = load(src, yi[1], xi[0], sc, p.in_w), e = load(src, yi[1], xi[1], sc, p.in_w);
#ifdef IN_F32
            const IN_T* r0 = src + yi[0] * p.in_w * CIN; const IN_T* r1 = src + yi[1] * p.in_w * CIN;
            if (!isfinite(r0[xi[0] * CIN + sc])) a = p.invalid;
            if (!isfinite(r0[xi[1] * CIN + sc])) b = p.invalid;
            if (!isfinite(r1[xi[0] * CIN + sc])) d = p.invalid;
            if (!isfinite(r1[xi[1] * CIN + sc])) e = p.invalid;
#endif
            float px = __fadd_rn(__fmul_rn(__fadd_rn(__fmul_rn(a, xw0), __fmul_rn(b, xw1)), yw0),
                                 __fmul_rn(__fadd_rn(__fmul_rn(d, xw0), __fmul_rn(e, xw1)), yw1));
#ifdef IN_U16
            px = fminf(65535.0f, fmaxf(0.0f, rintf(px)));  // cv2 resizes 16-bit as 16-bit
#endif
#endif
            v = __fadd_rn(__fmul_rn(px, p.gain[c]), p.offset[c]);
        }
#ifdef NCHW
        store(out, (c * p.net_h + y) * p.net_w + x, v);
#else
        store(out, (y * p.net_w + x) * COUT + c, v);
#endif
    }
}
"""

_IN_MACROS = {"uint8": ("unsigned char", "IN_U8"), "uint16": ("unsigned short", "IN_U16"), "float32": ("float", "IN_F32")}
_OUT_MACROS = {"uint8": ("unsigned char", "OUT_U8"), "float16": ("unsigned short", "OUT_F16"), "float32": ("float", "OUT_F32")}
_BLOCK = (32, 8)  # 256 threads; a warp spans 32 consecutive output columns, so NCHW stores coalesce


def kernel_options(plan: KernelPlan, arch: str) -> list[bytes]:
    """NVRTC options specialising the kernel source for one plan (pure: tested without NVRTC)."""
    in_t, in_m = _IN_MACROS[plan.in_dtype]
    out_t, out_m = _OUT_MACROS[plan.out_dtype]
    opts = [f"--gpu-architecture={arch}", f"-DIN_T={in_t}", f"-D{in_m}", f"-DCIN={plan.in_channels}",
            f"-DCOUT={plan.out_channels}", f"-DOUT_T={out_t}", f"-D{out_m}", "--std=c++17"]
    if plan.nchw:
        opts.append("-DNCHW")
    return [o.encode() for o in opts]


def params_struct(plan: KernelPlan) -> np.ndarray:
    """The kernel's ``Params`` as one packed numpy record (int32 x 10, float32 x 10), passed by value."""
    dt = np.dtype([("ints", np.int32, 10), ("floats", np.float32, 10)])
    rec = np.zeros((), dt)
    g = plan.geometry
    ch = list(plan.source_channel) + [0] * (3 - len(plan.source_channel))
    rec["ints"] = [plan.in_width, g.network_width, g.network_height, g.pad_x, g.pad_y, g.content_width,
                   g.content_height, *ch]

    def three(v: tuple[float, ...]) -> list[float]:
        return list(v) + [0.0] * (3 - len(v))

    rec["floats"] = three(plan.gain) + three(plan.offset) + three(plan.pad) + [plan.invalid_depth]
    return rec


def cuda_usable() -> tuple[bool, str]:
    """(True, device) when cuda-python imports and a GPU answers, else (False, why): what ``device: auto`` asks."""
    try:
        from edgepilot.engines import cuda_device as cd

        name, cc = cd.device_name_and_capability(0)
        return True, f"{name} (sm {cc})"
    except Exception as err:  # CudaUnavailable, or a broken install: auto falls back to the CPU with the reason
        return False, str(err)


def _compile(plan: KernelPlan, major: int, minor: int) -> bytes:
    from cuda.bindings import nvrtc

    def check(res: Any, what: str) -> Any:
        err = res[0]
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise RuntimeError(f"NVRTC {what}: {err}")
        return res[1] if len(res) > 1 else None

    prog = check(nvrtc.nvrtcCreateProgram(_SOURCE.encode(), b"edgepilot_encode.cu", 0, [], []), "create")
    opts = kernel_options(plan, f"compute_{major}{minor}")
    err = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)[0]
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        size = nvrtc.nvrtcGetProgramLogSize(prog)[1]
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(prog, log)
        raise RuntimeError(f"NVRTC could not compile the encoder kernel: {log.rstrip(bytes(1)).decode(errors='replace')}")
    size = check(nvrtc.nvrtcGetPTXSize(prog), "PTX size")
    ptx = b" " * size
    check(nvrtc.nvrtcGetPTX(prog, ptx), "PTX")
    return ptx


class CudaImageEncoder:
    """``encode(sample)`` writes the model input into the device buffer :attr:`device_ptr` (and, with
    ``to_host``, into :attr:`output`). Same constructor arguments and outputs as ImageEncoder."""

    def __init__(self, config: ImageEncoderConfig, in_shape: tuple[int, ...], in_dtype: Any,
                 out: np.ndarray | None = None) -> None:
        from edgepilot.daemon.image.encoder import _check_input
        from edgepilot.engines import cuda_device as cd

        in_dtype = np.dtype(in_dtype)
        in_shape = tuple(int(n) for n in in_shape)
        _check_input(config, in_shape, in_dtype)
        try:
            from cuda.bindings import driver
        except ImportError as err:
            raise cd.CudaUnavailable(f"encoder.device: cuda needs cuda-python ({err}): pip install "
                                     "'edgepilot[tensorrt]', or set encoder.device: cpu (or auto)") from None
        try:
            name, cc = cd.device_name_and_capability(0)
        except cd.CudaUnavailable as err:
            raise cd.CudaUnavailable(f"encoder.device: cuda but no usable GPU ({err}); set encoder.device: cpu "
                                     "(or auto, which falls back to the CPU)") from None
        self.config, self.in_shape, self.in_dtype, self._cd, self._driver = config, in_shape, in_dtype, cd, driver
        self.plan = KernelPlan.compute(config, in_shape, in_dtype.name)
        self.geometry = self.plan.geometry
        cd.call(cd.runtime().cudaFree(0), "cudaFree(0)")  # the primary context, for the driver-API calls below
        self._alloc(out)
        major, minor = (int(v) for v in cc.split("."))
        self._load_kernel(_compile(self.plan, major, minor))
        self.encode(np.zeros(in_shape, in_dtype), to_host=True)  # first launch (module load) at build time

    def _alloc(self, out: np.ndarray | None) -> None:
        cd, cfg = self._cd, self.config
        self.stream = cd.CudaStream()
        self._staging = cd.PinnedHostBuffer(self.in_shape, self.in_dtype)
        self._d_in = cd.DeviceBuffer(self._staging.nbytes)
        shape, dtype = tuple(cfg.output_shape()), np.dtype(cfg.tensor_dtype)
        self._d_out = cd.DeviceBuffer(int(np.prod(shape)) * dtype.itemsize)
        self.device_ptr = self._d_out.ptr
        self.out_nbytes = self._d_out.nbytes
        self._host_out = cd.PinnedHostBuffer(shape, dtype)
        if out is not None and (tuple(out.shape) != shape or out.dtype != dtype or not out.flags.c_contiguous):
            raise ValueError(f"the encoder makes {list(shape)} {dtype} ({cfg.tensor_layout}) but the model input "
                             f"is {list(out.shape)} {out.dtype}")
        self._user_out = out
        self.output: np.ndarray = self._host_out.array
        tables = self.plan.tables()
        self._d_tables = cd.DeviceBuffer(tables.nbytes)
        cd.memcpy_htod(self._d_tables.ptr, int(tables.ctypes.data), int(tables.nbytes))

    def _load_kernel(self, ptx: bytes) -> None:
        driver = self._driver
        err, self._module = driver.cuModuleLoadData(ptx)
        if err != driver.CUresult.CUDA_SUCCESS:
            raise self._cd.CudaError(f"cuModuleLoadData: {err}")
        err, self._fn = driver.cuModuleGetFunction(self._module, b"edgepilot_encode")
        if err != driver.CUresult.CUDA_SUCCESS:
            raise self._cd.CudaError(f"cuModuleGetFunction: {err}")
        g = self.geometry
        self._grid = ((g.network_width + _BLOCK[0] - 1) // _BLOCK[0], (g.network_height + _BLOCK[1] - 1) // _BLOCK[1])
        # Kernel arguments built once: an array of pointers to the values (cuLaunchKernel's kernelParams), held
        # here so that no argument object is made per frame.
        self._args_src = np.array([self._d_in.ptr], np.uint64)
        self._args_out = np.array([self._d_out.ptr], np.uint64)
        self._args_tab = np.array([self._d_tables.ptr], np.uint64)
        self._params = params_struct(self.plan)
        self._argv = np.array([a.ctypes.data for a in (self._args_src, self._args_out, self._args_tab, self._params)],
                              np.uint64)
        self._argv_ptr = int(self._argv.ctypes.data)
        self._stream_handle = self.stream.handle
        self._stream_driver = driver.CUstream(int(self.stream.address))

    def enqueue(self, sample: np.ndarray) -> None:
        """Stage ``sample``, H2D, launch; returns without waiting (TensorRT may be enqueued after it)."""
        if sample.shape != self.in_shape or sample.dtype != self.in_dtype:
            raise ValueError(f"sample is {sample.shape} {sample.dtype}; this encoder takes {self.in_shape} {self.in_dtype}")
        np.copyto(self._staging.array, sample)
        cd = self._cd
        cd.memcpy_htod_async(self._d_in.ptr, self._staging.ptr, self._staging.nbytes, self.stream)
        (err,) = self._driver.cuLaunchKernel(self._fn, self._grid[0], self._grid[1], 1, _BLOCK[0], _BLOCK[1], 1,
                                             0, self._stream_driver, self._argv_ptr, 0)
        if err != self._driver.CUresult.CUDA_SUCCESS:
            raise cd.CudaError(f"cuLaunchKernel(edgepilot_encode): {err}")

    def encode(self, sample: np.ndarray, to_host: bool = True) -> np.ndarray:
        """Encode one frame and wait for it; with ``to_host`` the result is also in :attr:`output` (and in the
        ``out`` array given at construction). Returns :attr:`output`."""
        self.enqueue(sample)
        if to_host:
            self._cd.memcpy_dtoh_async(self._host_out.ptr, self._d_out.ptr, self.out_nbytes, self.stream)
        self.stream.synchronize()
        if to_host and self._user_out is not None:
            np.copyto(self._user_out, self.output)
        return self.output

    def close(self) -> None:
        for b in (self._staging, self._host_out, self._d_in, self._d_out, self._d_tables):
            b.free()
        if getattr(self, "_module", None) is not None:
            self._driver.cuModuleUnload(self._module)
            self._module = None
        self.stream.destroy()


def build_image_encoder(config: ImageEncoderConfig, in_shape: tuple[int, ...], in_dtype: Any,
                        out: np.ndarray | None = None) -> Any:
    """The encoder the profile's ``encoder.device`` asks for: cpu -> ImageEncoder, cuda -> CudaImageEncoder
    (a clear error without a GPU), auto -> cuda when usable and the interpolation is supported there, else cpu."""
    from edgepilot.daemon.image.encoder import ImageEncoder

    if config.device == "cpu" or (config.device == "auto" and (config.interp_type == "area" or not cuda_usable()[0])):
        return ImageEncoder(config, in_shape, in_dtype, out=out)
    return CudaImageEncoder(config, in_shape, in_dtype, out=out)
