export { Tokenizer, MIN_VOCAB_SIZE, type EncodeOptions, type SpecialTokenMode, type DecodeOptions, type TrainOptions, type TokenizerStyle, TOKENIZER_STYLES } from './tokenizer'
export { SPECIAL_TOKENS, type SpecialIds, type SpecialRole } from './specials'
export { DecodeStream, decodeContinuation } from './stream'
