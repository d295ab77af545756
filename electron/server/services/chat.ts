// The playground: generate from a checkpoint the page may load, streaming tokens as chat:token
// events, and score a reply with a reward model the page picked.

import type { ApiHandlers } from '../../shared/api'
import type { ServiceContext } from './context'

export function createChatHandlers(ctx: ServiceContext) {
  const { chat, emit } = ctx
  return {
    'chat:generate': async (args) => {
      ctx.checkCheckpoint(args.checkpoint, 'checkpoint')
      return chat.generate(args, (text) => emit('chat:token', { requestId: args.requestId, text }))
    },
    'reward:score': async (args) => {
      ctx.checkCheckpoint(args.checkpoint, 'checkpoint')
      return chat.score(args)
    },
  } satisfies Partial<ApiHandlers>
}
