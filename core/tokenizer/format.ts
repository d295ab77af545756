// The tokenizer.json the workbench writes for a tokenizer it trained: Hugging Face's own format,
// so `tokenizers.Tokenizer.from_file` and transformers' PreTrainedTokenizerFast load it as is.
//
// Shape (GPT-2 style byte-level BPE with the Llama 2 rules):
//   - ids 0..7: the special tokens (SPECIAL_TOKENS order), also listed in added_tokens;
//   - ids 8..263: the 256 bytes as GPT-2 byte-level characters, so every UTF-8 input encodes;
//   - then the learned merges;
//   - pre-tokenizer: split with WORKBENCH_PATTERN (every digit is its own word, so numbers are
//     always single digits), then ByteLevel without a prefix space, so decode(encode(x)) === x;
//   - post-processor: BOS before a sequence, as Llama does when `add_special_tokens` is on.

import { SPECIAL_TOKENS } from './specials'

/**
 * GPT-2's split rule with one change: `\p{N}` (a single digit) instead of ` ?\p{N}+`.
 * Valid in both Oniguruma (Hugging Face) and JavaScript.
 */
export const WORKBENCH_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

export function buildTokenizerJson(byteAndMergedTokens: string[], merges: Array<[string, string]>): Record<string, unknown> {
  const specials = Object.values(SPECIAL_TOKENS)
  // No prototype: a learned token may well be "__proto__" (think of a corpus of JavaScript).
  const vocab: Record<string, number> = Object.create(null)
  specials.forEach((token, id) => (vocab[token] = id))
  byteAndMergedTokens.forEach((token, i) => (vocab[token] = specials.length + i))
  const bos = SPECIAL_TOKENS.bos
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: WORKBENCH_PATTERN }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bos, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: bos, type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [bos]: { id: bos, ids: [vocab[bos]], tokens: [bos] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  }
}
