"""Where the PyTorch reference trainer's step time goes, by operator (torch.profiler), for comparison with
`Benchmarks profile`. Usage on the GPU machine: python3 profile_reference.py path/to/ref_moe_train.py small"""
import importlib.util, sys, torch
spec = importlib.util.spec_from_file_location("ref", sys.argv[1]); ref = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref)
c = ref.CONFIGS[sys.argv[2]]; m = c["model"]; torch.manual_seed(0)
model = ref.LM(m).cuda(); opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, fused=True)
B, T = c["batch"], c["seq"]
def step():
    x = torch.randint(0, m["vocab_size"], (B, T), device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16): loss = model(x, x)
    loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step(); opt.zero_grad(set_to_none=True)
for _ in range(3): step()
torch.cuda.synchronize()
with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
    for _ in range(3): step()
    torch.cuda.synchronize()
print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25))
