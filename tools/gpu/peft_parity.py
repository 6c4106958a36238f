# LoRA parity with PEFT on the tiny fixture (data/deepseek-v3-tiny-a), float32 on the CPU of the GPU machine:
# 1. PEFT makes adapters (r=4, alpha=8, the default targets, init_lora_weights=False so both factors are random),
#    saves them with save_pretrained and records the adapted model's logits: the fixture of the .NET test that loads
#    PEFT adapters (tests/MLNet.MoE.Tests/TestData/peft-lora).
# 2. When OURS is given (adapters written by `Benchmarks lora-export OURS`), PEFT loads them with
#    PeftModel.from_pretrained and compares its logits with the .NET logits recorded beside them.
# 3. With --modules-to-save, step 1 also trains the routers and norms in full (PEFT's modules_to_save, as
#    LoraOptions.TrainRouter and TrainNorms do; their copies perturbed) and writes OUT_DIR/peft-lora-modules-to-save; the
#    result lists the non-LoRA keys PEFT saved (the naming SaveLoraAdapters follows). OURS is then written by
#    `Benchmarks lora-export OURS --train-router-norms`.
# Usage: python3 peft_parity.py BASE_DIR OUT_DIR [OURS] [--modules-to-save]
import json, sys, torch, peft, transformers
from transformers import DeepseekV3ForCausalLM
from peft import LoraConfig, PeftModel, get_peft_model
save_modules = "--modules-to-save" in sys.argv
argv = [a for a in sys.argv if a != "--modules-to-save"]
base_dir, out = argv[1], argv[2]
ours = argv[3] if len(argv) > 3 else None
targets = ["q_proj", "q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ids = torch.tensor(json.load(open(f"{base_dir}/expected.json"))["input_ids"])
torch.manual_seed(0)
model = DeepseekV3ForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
present = sorted({n.split(".")[-1] for n, _ in model.named_modules()} & set(targets))
# The names LoraOptions.TrainRouter and TrainNorms write, those this model has (PEFT matches by suffix).
to_save = [m for m in ["mlp.gate", "input_layernorm", "post_attention_layernorm", "q_a_layernorm", "kv_a_layernorm", "model.norm"]
           if any(n.endswith(m) for n, _ in model.named_modules())] if save_modules else None
adapted = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=present, init_lora_weights=False, modules_to_save=to_save)).eval()
with torch.no_grad():
    generator = torch.Generator().manual_seed(1)
    for name, parameter in adapted.named_parameters():
        if ".modules_to_save." not in name:
            continue
        if name.endswith("mlp.gate.modules_to_save.default.weight"):
            parameter.add_(torch.empty(parameter.shape).uniform_(-0.2, 0.2, generator=generator))
        else:
            parameter.copy_(torch.empty(parameter.shape).uniform_(0.5, 1.5, generator=generator))
    logits = adapted(input_ids=ids).logits
fixture = "peft-lora-modules-to-save" if save_modules else "peft-lora"
adapted.save_pretrained(f"{out}/{fixture}")
json.dump({"input_ids": ids.tolist(), "logits": [round(float(v), 7) for v in logits.flatten()], "peft": peft.__version__,
           "transformers": transformers.__version__, "torch": torch.__version__, "target_modules": present, "modules_to_save": to_save},
          open(f"{out}/{fixture}/expected.json", "w"))
result = {"check": "peft-parity", "peft": peft.__version__, "fixture_targets": present, "modules_to_save": to_save}
if save_modules:
    from safetensors import safe_open
    with safe_open(f"{out}/{fixture}/adapter_model.safetensors", "pt") as saved:
        result["saved_full_keys"] = sorted(k for k in saved.keys() if ".lora_" not in k)
if ours:
    base = DeepseekV3ForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
    loaded = PeftModel.from_pretrained(base, ours).eval()
    recorded = json.load(open(f"{ours}/mlnet_logits.json"))
    with torch.no_grad():
        theirs = loaded(input_ids=torch.tensor(recorded["input_ids"])).logits.flatten()
    difference = (theirs - torch.tensor(recorded["logits"])).abs().max().item()
    result.update({"peft_loads_ours_max_abs_difference": difference, "within_1e-4": difference < 1e-4,
                   "lora_modules_loaded": sum(1 for n, _ in loaded.named_modules() if n.endswith("lora_A")),
                   "modules_to_save_loaded": sum(1 for n, _ in loaded.named_modules() if n.endswith("modules_to_save"))})
print(json.dumps(result))
