// The special tokens of a workbench tokenizer, and how to find their equivalents in a
// tokenizer.json made elsewhere.

/** Role -> token text. Ids 0..7 of every tokenizer the workbench trains, in this order. */
export const SPECIAL_TOKENS = {
  unk: '<unk>',
  bos: '<s>',
  eos: '</s>',
  pad: '<pad>',
  system: '<|system|>',
  user: '<|user|>',
  assistant: '<|assistant|>',
  end_of_turn: '<|end|>',
} as const

export type SpecialRole = keyof typeof SPECIAL_TOKENS
export type SpecialIds = Record<SpecialRole, number>

export const SPECIAL_ROLES = Object.keys(SPECIAL_TOKENS) as SpecialRole[]

/**
 * Names other tokenizers use for the same roles, best first (Llama 2 / TinyLlama, GPT-2, Llama 3,
 * Gemma). A role none of them provides is added as a new special token at the end of the
 * vocabulary, except PAD, which falls back to UNK and then EOS (padding is always masked out,
 * so any id works and the model's embedding matrix need not grow for it).
 */
export const ROLE_CANDIDATES: Record<SpecialRole, string[]> = {
  unk: ['<unk>', '<|unk|>', '<|endoftext|>'],
  bos: ['<s>', '<|begin_of_text|>', '<bos>', '<|endoftext|>'],
  eos: ['</s>', '<|end_of_text|>', '<eos>', '<|endoftext|>'],
  pad: ['<pad>', '<|pad|>', '<|finetune_right_pad_id|>'],
  system: ['<|system|>'],
  user: ['<|user|>'],
  assistant: ['<|assistant|>'],
  end_of_turn: ['<|end|>', '<|eot_id|>', '<end_of_turn>', '<|im_end|>'],
}
