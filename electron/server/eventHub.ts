// A tiny publish/subscribe hub between the services (which emit run updates, metrics and chat
// tokens) and the transports that push them out (IPC windows, SSE clients, the stdio pipe).

import type { EventName, EventPayloads, EventSink } from '../shared/api'

export type HubListener = (event: EventName, payload: EventPayloads[EventName]) => void

export class EventHub {
  private listeners = new Set<HubListener>()

  /** Pass this to the services as their event sink. */
  readonly emit: EventSink = (event, payload) => {
    for (const listener of [...this.listeners]) {
      try {
        listener(event, payload)
      } catch {
        // One broken client (a closed socket) must not stop the others from getting the event.
      }
    }
  }

  subscribe(listener: HubListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  get size(): number {
    return this.listeners.size
  }
}
