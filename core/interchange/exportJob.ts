// `workbench export-job <run> --target trl|llamafactory --out DIR`: a bundle that runs the run's
// stage on a GPU cluster with an established engine. The bundle holds
//   model/               the starting checkpoint as a Hugging Face folder
//   data/train.jsonl     the run's data in the target's format (+ data/dataset_info.json for LLaMA-Factory)
//   config.yaml          the run's config mapped through the target's table (targets/*.ts)
//   train.py             (TRL) builds the trainer from config.yaml
//   ds_zero2.json        DeepSpeed ZeRO stage 2
//   launch.sh            multi-node launch (accelerate for TRL, llamafactory-cli with torchrun)
//   README.md            how to run it, and what did not map
//   workbench-job.json   where it came from, read back by `workbench import-job`
import fs from 'node:fs'
import path from 'node:path'
import { resolveModelRef } from '../jobs/checkpoints'
import { Store } from '../tracking/store'
import { jobRecords, llamafactoryDatasetInfo, writeJsonl, type JobTarget } from './jobData'
import { JOB_STAGES, type JobStage, type MappedConfig } from './targets/common'
import { llamafactoryConfig, LLAMAFACTORY_STAGE } from './targets/llamafactory'
import { TRL_CLASSES, trlConfig } from './targets/trl'
import { toYaml } from './yaml'

export const JOB_TARGETS: JobTarget[] = ['trl', 'llamafactory']
export const JOB_MANIFEST = 'workbench-job.json'

/** Files of a checkpoint that make a Hugging Face folder (no optimizer or resume state). */
const MODEL_FILES = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|tokenizer\.model|.*\.safetensors|model\.safetensors\.index\.json)$/

/** Config keys that name the model a stage starts from. */
const START_KEYS = ['base', 'init_from', 'policy']

export interface ExportJobResult {
  dir: string
  runId: string
  stage: JobStage
  target: JobTarget
  examples: number
  unmapped: MappedConfig['unmapped']
}

export function exportJob(home: string, runRef: string, target: JobTarget, out: string): ExportJobResult {
  if (!JOB_TARGETS.includes(target)) throw new Error(`export-job: --target must be one of ${JOB_TARGETS.join(', ')}, got "${target}"`)
  const store = Store.open(home)
  try {
    const run = store.getRunRecord(store.resolveRunId(runRef))
    const stage = run.stage as JobStage
    if (!JOB_STAGES.includes(stage)) throw new Error(`export-job: run ${run.id} is a "${run.stage}" run; only ${JOB_STAGES.join(', ')} runs can go to a cluster`)
    const dir = path.resolve(out)
    if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) throw new Error(`export-job: ${out} exists and is not empty`)
    fs.mkdirSync(dir, { recursive: true })

    // The starting model: what the run started from, else (pretraining from scratch) the run's own checkpoint.
    const startKey = START_KEYS.find((k) => typeof run.config[k] === 'string')
    const start = resolveModelRef(store, startKey ? (run.config[startKey] as string) : run.id, startKey ? `config ${startKey}` : `run ${run.id}`)
    copyModel(start.checkpointDir, path.join(dir, 'model'))

    const records = jobRecords(stage, run.config, target)
    writeJsonl(path.join(dir, 'data', 'train.jsonl'), records)
    const mapped = target === 'trl' ? trlConfig(stage, run.config) : llamafactoryConfig(stage, run.config, 'workbench_train')
    if (target === 'trl') {
      mapped.args.model_name_or_path = 'model'
      fs.writeFileSync(path.join(dir, 'train.py'), trlScript(stage))
    } else {
      fs.writeFileSync(path.join(dir, 'data', 'dataset_info.json'), JSON.stringify({ workbench_train: llamafactoryDatasetInfo(stage, 'train.jsonl') }, null, 2) + '\n')
    }
    fs.writeFileSync(path.join(dir, 'config.yaml'), `# ${target} config for workbench run ${run.id} (${stage}); see README.md\n` + toYaml(mapped.args))
    fs.writeFileSync(path.join(dir, 'ds_zero2.json'), JSON.stringify(DEEPSPEED_ZERO2, null, 2) + '\n')
    fs.writeFileSync(path.join(dir, 'launch.sh'), target === 'trl' ? TRL_LAUNCH : LLAMAFACTORY_LAUNCH, { mode: 0o755 })
    fs.writeFileSync(path.join(dir, 'README.md'), readme(run.id, stage, target, start.checkpointDir, records.length, mapped))
    const manifest = { format: 'workbench-job', version: 1, source_run: run.id, stage, target, created: new Date().toISOString(), examples: records.length, unmapped: mapped.unmapped.map((u) => u.key) }
    fs.writeFileSync(path.join(dir, JOB_MANIFEST), JSON.stringify(manifest, null, 2) + '\n')

    store.recordBatch(run.id, { events: [{ kind: 'export-job', message: `exported to ${target} at ${dir}`, data: { target, dir }, time: Date.now() }] })
    return { dir, runId: run.id, stage, target, examples: records.length, unmapped: mapped.unmapped }
  } finally {
    store.close()
  }
}

function copyModel(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true })
  for (const file of fs.readdirSync(from)) {
    if (MODEL_FILES.test(file) && fs.statSync(path.join(from, file)).isFile()) fs.copyFileSync(path.join(from, file), path.join(to, file))
  }
}

const DEEPSPEED_ZERO2 = {
  bf16: { enabled: 'auto' },
  zero_optimization: { stage: 2, overlap_comm: true, contiguous_gradients: true, reduce_bucket_size: 'auto', allgather_bucket_size: 5e8 },
  gradient_accumulation_steps: 'auto',
  gradient_clipping: 'auto',
  train_batch_size: 'auto',
  train_micro_batch_size_per_gpu: 'auto',
}

/** The TRL entry point: read config.yaml into the stage's config class and train. */
function trlScript(stage: JobStage): string {
  const { config, trainer } = TRL_CLASSES[stage]
  const model = stage === 'reward' ? 'AutoModelForSequenceClassification.from_pretrained("model", num_labels=1)' : 'AutoModelForCausalLM.from_pretrained("model")'
  const ppoNote = stage === 'ppo' ? '\n# PPO also needs a reward model and a value model: see README.md (not part of this bundle).\n' : ''
  return `# Generated by workbench export-job: trains with TRL's ${trainer} from config.yaml.${ppoNote}
import sys
import yaml
from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
from trl import ${config}, ${trainer}

with open(sys.argv[sys.argv.index("--config") + 1] if "--config" in sys.argv else "config.yaml") as f:
    args = yaml.safe_load(f)
model_path = args.pop("model_name_or_path")
config = ${config}(**args)
tokenizer = AutoTokenizer.from_pretrained(model_path)
model = ${model.replace('"model"', 'model_path')}
data = load_dataset("json", data_files="data/train.jsonl", split="train")
trainer = ${trainer}(model=model, args=config, train_dataset=data, processing_class=tokenizer)
trainer.train()
trainer.save_model(config.output_dir)
trainer.save_state()
`
}

const CLUSTER_VARS = `# Set per node: NNODES (machines), NODE_RANK (0..NNODES-1), MASTER_ADDR / MASTER_PORT (rank 0's
# address), GPUS_PER_NODE. Under SLURM: NNODES=$SLURM_NNODES NODE_RANK=$SLURM_NODEID.
NNODES=\${NNODES:-1}
NODE_RANK=\${NODE_RANK:-0}
MASTER_ADDR=\${MASTER_ADDR:-127.0.0.1}
MASTER_PORT=\${MASTER_PORT:-29500}
GPUS_PER_NODE=\${GPUS_PER_NODE:-$(nvidia-smi -L 2>/dev/null | wc -l)}
`

const TRL_LAUNCH = `#!/usr/bin/env bash
# Runs train.py with accelerate on NNODES x GPUS_PER_NODE GPUs, DeepSpeed ZeRO-2 (ds_zero2.json).
set -euo pipefail
cd "$(dirname "$0")"
${CLUSTER_VARS}
accelerate launch \\
  --num_machines "$NNODES" --machine_rank "$NODE_RANK" \\
  --main_process_ip "$MASTER_ADDR" --main_process_port "$MASTER_PORT" \\
  --num_processes "$((NNODES * GPUS_PER_NODE))" \\
  --use_deepspeed --deepspeed_config_file ds_zero2.json \\
  train.py --config config.yaml
`

const LLAMAFACTORY_LAUNCH = `#!/usr/bin/env bash
# Runs llamafactory-cli with torchrun on NNODES x GPUS_PER_NODE GPUs, DeepSpeed ZeRO-2 (ds_zero2.json).
set -euo pipefail
cd "$(dirname "$0")"
${CLUSTER_VARS}
FORCE_TORCHRUN=1 NNODES="$NNODES" NODE_RANK="$NODE_RANK" MASTER_ADDR="$MASTER_ADDR" MASTER_PORT="$MASTER_PORT" \\
  NPROC_PER_NODE="$GPUS_PER_NODE" llamafactory-cli train config.yaml
`

function readme(runId: string, stage: JobStage, target: JobTarget, from: string, examples: number, mapped: MappedConfig): string {
  const engine = target === 'trl' ? `Hugging Face TRL (${TRL_CLASSES[stage].trainer} with ${TRL_CLASSES[stage].config})` : `LLaMA-Factory (stage: ${LLAMAFACTORY_STAGE[stage]}, full fine-tuning)`
  const install = target === 'trl' ? 'pip install trl accelerate deepspeed datasets pyyaml' : 'pip install "llamafactory[torch,metrics,deepspeed]"'
  const unmapped = mapped.unmapped.length === 0 ? 'Everything mapped.' : ['| our key | value | why |', '|---|---|---|', ...mapped.unmapped.map((u) => `| ${u.key} | ${JSON.stringify(u.value)} | ${u.why} |`)].join('\n')
  return `# Workbench run ${runId} (${stage}) for ${engine}

Made by \`workbench export-job\`. It trains the same stage as the workbench run, on a GPU cluster.

## Contents
- \`model/\`: the starting checkpoint (${from}) as a Hugging Face Llama folder
- \`data/train.jsonl\`: ${examples} examples in ${target === 'trl' ? "TRL's conversational format" : "LLaMA-Factory's sharegpt format (see data/dataset_info.json)"}
- \`config.yaml\`: the run's settings under ${target === 'trl' ? "TRL's" : "LLaMA-Factory's"} argument names
- \`ds_zero2.json\`: DeepSpeed ZeRO stage 2; \`launch.sh\`: the multi-node launch${target === 'trl' ? '; `train.py`: the trainer' : ''}

## Run
\`\`\`
${install}
# on every node (rank 0 first):
NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 GPUS_PER_NODE=8 ./launch.sh
\`\`\`
One machine: \`./launch.sh\`. The results land in \`output/\` (trainer_state.json, checkpoints).

## Bring the results back
Copy this folder (with \`output/\`) to the workbench machine, then:
\`\`\`
workbench import-job <this folder>
\`\`\`
It records a run linked to ${runId}, with train/loss, train/lr, train/grad_norm and eval/loss from
trainer_state.json, and the final checkpoint, so it compares with local runs.

## What does not map
${unmapped}
${stage === 'ppo' ? '\nPPO needs a reward model and a value model as well: export the reward model run with `workbench export --format` or copy its Hugging Face folder, and pass it to the trainer (`reward_model`, `value_model`).\n' : ''}`
}
