# LoRA parity with PEFT on the tiny fixture (data/deepseek-v3-tiny-a), float32 on the CPU of the GPU machine:
# 1. PEFT makes adapters (r=4, alpha=8, the default targets, init_lora_weights=False so both factors are random),
#    saves them with save_pretrained and records the adapted model's logits: the fixture of the .NET test that loads
#    PEFT adapters (tests/MLNet.MoE.Tests/TestData/peft-lora).
# 2. When OURS is given (adapters written by `Benchmarks lora-export OURS`), PEFT loads them with
#    PeftModel.from_pretrained and compares its logits with the .NET logits recorded beside them.
# Usage: python3 peft_parity.py BASE_DIR OUT_DIR [OURS]
import json, sys, torch, peft, transformers
from transformers import DeepseekV3ForCausalLM
from peft import LoraConfig, PeftModel, get_peft_model
base_dir, out = sys.argv[1], sys.argv[2]
ours = sys.argv[3] if len(sys.argv) > 3 else None
targets = ["q_proj", "q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ids = torch.tensor(json.load(open(f"{base_dir}/expected.json"))["input_ids"])
torch.manual_seed(0)
model = DeepseekV3ForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
present = sorted({n.split(".")[-1] for n, _ in model.named_modules()} & set(targets))
adapted = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=present, init_lora_weights=False)).eval()
with torch.no_grad():
    logits = adapted(input_ids=ids).logits
adapted.save_pretrained(f"{out}/peft-lora")
json.dump({"input_ids": ids.tolist(), "logits": [round(float(v), 7) for v in logits.flatten()], "peft": peft.__version__,
           "transformers": transformers.__version__, "torch": torch.__version__, "target_modules": present},
          open(f"{out}/peft-lora/expected.json", "w"))
result = {"check": "peft-parity", "peft": peft.__version__, "fixture_targets": present}
if ours:
    base = DeepseekV3ForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
    loaded = PeftModel.from_pretrained(base, ours).eval()
    recorded = json.load(open(f"{ours}/mlnet_logits.json"))
    with torch.no_grad():
        theirs = loaded(input_ids=torch.tensor(recorded["input_ids"])).logits.flatten()
    difference = (theirs - torch.tensor(recorded["logits"])).abs().max().item()
    result.update({"peft_loads_ours_max_abs_difference": difference, "within_1e-4": difference < 1e-4,
                   "lora_modules_loaded": sum(1 for n, _ in loaded.named_modules() if n.endswith("lora_A"))})
print(json.dumps(result))
