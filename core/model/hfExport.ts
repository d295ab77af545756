// The Hugging Face files that make a checkpoint folder usable by transformers and tools built on
// it, beside config.json / model.safetensors / tokenizer.json:
//   - tokenizer_config.json: the tokenizer class, the BOS/EOS/PAD/UNK token texts and a Jinja
//     `chat_template` that renders exactly the workbench chat format (core/data/chatTemplate.ts):
//       <s><|system|>...<|end|><|user|>...<|end|><|assistant|>...<|end|></s>
//     with add_generation_prompt: the conversation then "<|assistant|>" (no </s>), as
//     encodeChatPrompt builds it. Tokenized with special tokens parsed, it gives our ids.
//   - generation_config.json: which ids end a generation (EOS and the end-of-turn token).

import { ROLE_CANDIDATES } from '../tokenizer/specials'

export interface AddedTokenJson {
  id: number
  content: string
}

/** Token texts of the chat format; absent roles make the template refuse that role. */
export interface ChatTokenTexts {
  bos: string
  eos: string
  system?: string
  user?: string
  assistant?: string
  end?: string
}

/** A Jinja string literal. */
function quote(text: string): string {
  return "'" + text.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'"
}

/** The chat template, in the Jinja dialect transformers (and @huggingface/jinja) render. */
export function chatTemplateJinja(t: ChatTokenTexts): string {
  const branch = (role: 'system' | 'user' | 'assistant') =>
    t[role] === undefined ? `{{ raise_exception('this tokenizer has no ${role} token') }}` : `{{ ${quote(t[role] as string)} }}`
  const end = t.end === undefined ? `{{ raise_exception('this tokenizer has no end-of-turn token') }}` : `{{ ${quote(t.end)} }}`
  return [
    `{{ ${quote(t.bos)} }}`,
    '{% for message in messages %}',
    "{% if message['role'] == 'system' %}", branch('system'),
    "{% elif message['role'] == 'user' %}", branch('user'),
    "{% elif message['role'] == 'assistant' %}", branch('assistant'),
    "{% else %}{{ raise_exception('unknown role: ' + message['role'] + ' (system, user or assistant)') }}{% endif %}",
    "{{ message['content'] }}", end,
    '{% endfor %}',
    `{% if add_generation_prompt %}${t.assistant === undefined ? '' : `{{ ${quote(t.assistant)} }}`}{% else %}{{ ${quote(t.eos)} }}{% endif %}`,
  ].join('')
}

/** Special ids as a checkpoint knows them. */
export interface ExportSpecialIds {
  bos?: number
  eos?: number
  pad?: number
  unk?: number
}

/** tokenizer_config.json for transformers' AutoTokenizer (PreTrainedTokenizerFast), with the chat template. */
export function hfTokenizerConfig(added: AddedTokenJson[], special: ExportSpecialIds, maxLen: number): Record<string, unknown> | null {
  const text = (id?: number) => (id === undefined ? undefined : added.find((t) => t.id === id)?.content)
  const bos = text(special.bos)
  const eos = text(special.eos)
  if (bos === undefined || eos === undefined) return null // nothing to tell transformers
  const role = (candidates: string[]) => candidates.find((c) => added.some((t) => t.content === c))
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: bos,
    eos_token: eos,
    pad_token: text(special.pad),
    unk_token: text(special.unk),
    model_max_length: maxLen,
    clean_up_tokenization_spaces: false,
    chat_template: chatTemplateJinja({
      bos,
      eos,
      system: role(ROLE_CANDIDATES.system),
      user: role(ROLE_CANDIDATES.user),
      assistant: role(ROLE_CANDIDATES.assistant),
      end: role(ROLE_CANDIDATES.end_of_turn),
    }),
  }
}

/** generation_config.json: a generation ends at EOS or at the end-of-turn token of a chat answer. */
export function hfGenerationConfig(added: AddedTokenJson[], special: ExportSpecialIds): Record<string, unknown> | null {
  if (special.bos === undefined || special.eos === undefined) return null
  const endOfTurn = added.find((t) => ROLE_CANDIDATES.end_of_turn.includes(t.content))?.id
  return {
    bos_token_id: special.bos,
    eos_token_id: endOfTurn === undefined || endOfTurn === special.eos ? special.eos : [special.eos, endOfTurn],
    ...(special.pad === undefined ? {} : { pad_token_id: special.pad }),
  }
}
