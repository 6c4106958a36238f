# Anchor for LoRA fine-tuning at a 16B-class DeepSeek-V3 shape (Moonlight-16B-A3B-like config, random bf16 weights):
# transformers + PEFT, gradient checkpointing, LoRA r16 on attention and dense/shared MLP projections.
# Usage on the GPU machine: python3 peft_moonlight.py SEQ BATCH  -> one JSON line (tokens/s, peak GiB).
# The anchor script of MLNet.MoE's LoRA benchmark, as measured for docs/benchmarks.md; the only change from the
# original is the extra "peak_reserved_gib" field (PyTorch's cached memory, comparable to nvidia-smi's figure that the
# .NET benchmark reports).
import torch, time, json, sys
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM
from peft import LoraConfig, get_peft_model
seq = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1
cfg = DeepseekV3Config(vocab_size=163840, hidden_size=2048, intermediate_size=11264, moe_intermediate_size=1408, num_hidden_layers=27,
    num_attention_heads=16, num_key_value_heads=16, n_shared_experts=2, n_routed_experts=64, num_experts_per_tok=6, first_k_dense_replace=1,
    kv_lora_rank=512, q_lora_rank=None, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128, n_group=1, topk_group=1,
    routed_scaling_factor=2.446, norm_topk_prob=True, max_position_embeddings=8192, rope_theta=50000.0, tie_word_embeddings=False)
t0 = time.time(); torch.manual_seed(0); torch.set_default_dtype(torch.bfloat16)
with torch.device("cuda"):
    model = DeepseekV3ForCausalLM(cfg)
torch.set_default_dtype(torch.float32)
n = sum(p.numel() for p in model.parameters())
build = time.time() - t0
model.gradient_checkpointing_enable(); model.config.use_cache = False
lcfg = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=["q_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
model = get_peft_model(model, lcfg)
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
ids = torch.randint(0, cfg.vocab_size, (batch, seq), device="cuda")
torch.cuda.reset_peak_memory_stats(); times = []
for step in range(6):
    torch.cuda.synchronize(); t = time.time()
    out = model(input_ids=ids, labels=ids); out.loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize(); times.append(time.time() - t)
    print(step, round(times[-1], 3), float(out.loss), flush=True)
timed = times[2:]
print(json.dumps({"impl": "transformers+peft", "params_B": round(n / 1e9, 2), "trainable_M": round(trainable / 1e6, 2), "seq": seq, "build_s": round(build, 1),
    "step_s": round(sum(timed) / len(timed), 3), "batch": batch, "tokens_per_s": round(batch * seq / (sum(timed) / len(timed)), 1), "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1), "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 1),
    "experts_impl": str(getattr(model.base_model.model.config, "_experts_implementation", None))}))
