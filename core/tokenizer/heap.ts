// A small binary min-heap. BPE uses it twice: training picks the most frequent pair, encoding
// picks the lowest-ranked merge. `before(a, b)` says whether a comes out before b.

export class MinHeap<T> {
  private readonly items: T[] = []

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length
  }

  push(item: T): void {
    const items = this.items
    items.push(item)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.before(items[i], items[parent])) break
      ;[items[i], items[parent]] = [items[parent], items[i]]
      i = parent
    }
  }

  pop(): T | undefined {
    const items = this.items
    if (items.length === 0) return undefined
    const top = items[0]
    const last = items.pop() as T
    if (items.length > 0) {
      items[0] = last
      this.siftDown(0)
    }
    return top
  }

  private siftDown(i: number): void {
    const items = this.items
    for (;;) {
      const left = 2 * i + 1
      const right = left + 1
      let best = i
      if (left < items.length && this.before(items[left], items[best])) best = left
      if (right < items.length && this.before(items[right], items[best])) best = right
      if (best === i) return
      ;[items[i], items[best]] = [items[best], items[i]]
      i = best
    }
  }
}
