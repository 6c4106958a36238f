# Builds the random bfloat16 Moonlight-16B-A3B-shaped DeepseekV3ForCausalLM of peft_moonlight.py (same config, same
# seed), saves it with save_pretrained (bf16, sharded safetensors) and writes transformers' bf16 logits for one row of
# 16 ids, for the .NET benchmark to load the folder and compare (Benchmarks lora moonlight --checkpoint DIR
# --reference-logits DIR/reference.json); then loads the saved folder in float32 and writes transformers' float32 logits
# of the same row (DIR/reference_fp32.json), and how far its own bf16 logits lie from them (the bf16 noise of this
# random-weight model). Usage: python3 moonlight_checkpoint.py DIR
import json, sys, time, torch
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM
out = sys.argv[1]
cfg = DeepseekV3Config(vocab_size=163840, hidden_size=2048, intermediate_size=11264, moe_intermediate_size=1408, num_hidden_layers=27,
    num_attention_heads=16, num_key_value_heads=16, n_shared_experts=2, n_routed_experts=64, num_experts_per_tok=6, first_k_dense_replace=1,
    kv_lora_rank=512, q_lora_rank=None, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128, n_group=1, topk_group=1,
    routed_scaling_factor=2.446, norm_topk_prob=True, max_position_embeddings=8192, rope_theta=50000.0, tie_word_embeddings=False)
torch.manual_seed(0); torch.set_default_dtype(torch.bfloat16)
with torch.device("cuda"):
    model = DeepseekV3ForCausalLM(cfg)
torch.set_default_dtype(torch.float32)
model.eval()
g = torch.Generator().manual_seed(1)
ids = torch.randint(0, cfg.vocab_size, (1, 16), generator=g)
with torch.no_grad():
    logits = model(input_ids=ids.cuda()).logits[0].float().cpu()
t = time.time()
model.save_pretrained(out, safe_serialization=True)
save_s = time.time() - t
logits.numpy().tofile(f"{out}/reference_logits.bin")
json.dump({"input_ids": ids.tolist(), "logits_file": "reference_logits.bin"}, open(f"{out}/reference.json", "w"))
del model; torch.cuda.empty_cache()
t = time.time()
model32 = DeepseekV3ForCausalLM.from_pretrained(out, dtype=torch.float32, device_map="cuda").eval()
load32_s = time.time() - t
with torch.no_grad():
    logits32 = model32(input_ids=ids.cuda()).logits[0].float().cpu()
logits32.numpy().tofile(f"{out}/reference_fp32_logits.bin")
json.dump({"input_ids": ids.tolist(), "logits_file": "reference_fp32_logits.bin"}, open(f"{out}/reference_fp32.json", "w"))
del model32; torch.cuda.empty_cache()
bf16_vs_fp32 = {"max_abs_difference": round(float((logits - logits32).abs().max()), 4), "mean_abs_difference": round(float((logits - logits32).abs().mean()), 5),
    "argmax_agreement": round(float((logits.argmax(-1) == logits32.argmax(-1)).float().mean()), 4)}
import os
size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
print(json.dumps({"impl": "transformers-save_pretrained", "save_s": round(save_s, 1), "folder_gib": round(size / 2**30, 1),
    "files": sorted(f for f in os.listdir(out) if f.endswith(".json")),
    "fp32_load_s": round(load32_s, 1), "transformers_bf16_vs_fp32": bf16_vs_fp32}))
