// Mounting a screen against the fake services, through the same validation the real transports use.
import { mount, flushPromises } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import type { Component } from 'vue'
import { installApi } from '../../renderer/src/api'
import { apiFromHandlers, createFakeWorld, type FakeWorld } from '../electron/fakeServices'

export async function mountWithFake(component: Component, props: Record<string, unknown> = {}, world: FakeWorld = createFakeWorld()) {
  const pinia = createPinia()
  setActivePinia(pinia)
  installApi(apiFromHandlers(world.handlers, world.hub))
  const wrapper = mount(component, { props, global: { plugins: [pinia] }, attachTo: document.body })
  await settle()
  return { wrapper, world }
}

/** Lets pending promises and Vue's re-render finish. */
export async function settle() {
  for (let i = 0; i < 3; i++) await flushPromises()
}
