# One MoE layer's routed experts at the Moonlight shape (64 experts of width 1,408, hidden 2,048, 6 of 64 per token,
# 8 × 2,048 tokens: 98,304 sorted rows), bfloat16, with LoRA r 16 on gate_up (rank 32) and down: the ways of running
# the adapters that MLNet.MoE's TorchScript kernels can take, timed as a recomputed training step uses them (a forward
# pass without gradients, then a forward and backward pass). Prints one JSON line: milliseconds a layer for each.
# Usage on the GPU machine: python3 expert_lora_kernels.py
import json, time, torch
E, H, I, r, T, K = 64, 2048, 1408, 16, 16384, 6
dev, dt = "cuda", torch.bfloat16
g = torch.Generator(device=dev).manual_seed(0)
rows = T * K
counts = torch.bincount(torch.randint(0, E, (rows,), device=dev, generator=g), minlength=E)
offs = counts.cumsum(0).to(torch.int32)
x = torch.randn(rows, H, device=dev, dtype=dt, generator=g).requires_grad_()
up = torch.randn(rows, H, device=dev, dtype=dt, generator=g)
Wgu = torch.randn(E, 2 * I, H, device=dev, dtype=dt, generator=g) * 0.02
Wd = torch.randn(E, H, I, device=dev, dtype=dt, generator=g) * 0.02
def factor(*shape): return (torch.randn(*shape, device=dev, generator=g) * 0.02).requires_grad_()
Agu, Bgu, Ad, Bd = factor(E, 2 * r, H), factor(E, 2 * I, 2 * r), factor(E, r, I), factor(E, H, r)
s = 2.0
gmm = torch._grouped_mm
def swiglu(h): return torch.nn.functional.silu(h[:, :I]) * h[:, I:]
def none():
    return gmm(swiglu(gmm(x, Wgu.transpose(1, 2), offs=offs)), Wd.transpose(1, 2), offs=offs)
def merged():
    gu = Wgu + torch.bmm(Bgu.to(dt), Agu.to(dt)) * s
    d = Wd + torch.bmm(Bd.to(dt), Ad.to(dt)) * s
    return gmm(swiglu(gmm(x, gu.transpose(1, 2), offs=offs)), d.transpose(1, 2), offs=offs)
def unmerged():
    h = gmm(x, Wgu.transpose(1, 2), offs=offs)
    h = h + gmm(gmm(x, Agu.to(dt).transpose(1, 2), offs=offs), Bgu.to(dt).transpose(1, 2), offs=offs) * s
    a = swiglu(h)
    o = gmm(a, Wd.transpose(1, 2), offs=offs)
    return o + gmm(gmm(a, Ad.to(dt).transpose(1, 2), offs=offs), Bd.to(dt).transpose(1, 2), offs=offs) * s
def folded():
    # scaling folded into B (a small tensor), the low-rank term added in place to the base product
    h = gmm(x, Wgu.transpose(1, 2), offs=offs)
    h.add_(gmm(gmm(x, Agu.to(dt).transpose(1, 2), offs=offs), (Bgu * s).to(dt).transpose(1, 2), offs=offs))
    a = swiglu(h)
    o = gmm(a, Wd.transpose(1, 2), offs=offs)
    return o.add_(gmm(gmm(a, Ad.to(dt).transpose(1, 2), offs=offs), (Bd * s).to(dt).transpose(1, 2), offs=offs))
def lowrank_only():
    # the four low-rank products alone (no base product, no adds), to price them
    return gmm(gmm(x, Agu.to(dt).transpose(1, 2), offs=offs), Bgu.to(dt).transpose(1, 2), offs=offs).sum() + \
        gmm(gmm(up[:, :I].contiguous(), Ad.to(dt).transpose(1, 2), offs=offs), Bd.to(dt).transpose(1, 2), offs=offs).sum()
def timed(fn, backward):
    for _ in range(3):
        run(fn, backward)
    torch.cuda.synchronize(); t = time.time()
    for _ in range(10):
        run(fn, backward)
    torch.cuda.synchronize()
    return round((time.time() - t) / 10 * 1000, 2)
def run(fn, backward):
    if not backward:
        with torch.no_grad(): fn()
        return
    out = fn()
    (out.sum() if out.dim() == 0 else (out * up).sum()).backward()
    for p in (x, Agu, Bgu, Ad, Bd): p.grad = None
result = {"gpu": torch.cuda.get_device_name(), "rows": rows, "torch": torch.__version__}
for name, fn in [("none", none), ("merged", merged), ("unmerged", unmerged), ("folded", folded), ("lowrank_only", lowrank_only)]:
    f = timed(fn, False); fb = timed(fn, True)
    result[name] = {"forward": f, "forward_backward": fb, "step": round(f + fb, 2)}
print(json.dumps(result))
