// Renderer entry: Vue + Pinia, the hash router, and a last line of defence that turns any
// uncaught error into the app's error banner instead of a blank screen.
import { createApp } from 'vue'
import { createPinia } from 'pinia'
import App from './App.vue'
import { startRouter } from './lib/router'
import { useAppStore } from './stores/app'
import { startTheme } from './lib/theme'
import './style.css'

const app = createApp(App)
const pinia = createPinia()
app.use(pinia)
const store = useAppStore(pinia)

app.config.errorHandler = (error) => store.showError(error)
window.addEventListener('unhandledrejection', (event) => store.showError(event.reason))
window.addEventListener('error', (event) => store.showError(event.error ?? event.message))

startTheme()
startRouter()
app.mount('#app')
