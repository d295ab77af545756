// Generalised advantage estimation (Schulman et al. 2016) over masked rows, as TRL's PPOTrainer:
//   delta_t = r_t + gamma * V_{t+1} - V_t
//   A_t     = delta_t + gamma * lambda * A_{t+1}
//   returns = A + V
// V_{t+1} is 0 after a row's last response token (the episode ends there), and positions outside
// the mask (prompt, padding) get advantage and return 0 and do not feed earlier positions.

export interface GaeResult {
  advantages: number[][]
  returns: number[][]
}

export function gae(rewards: number[][], values: number[][], mask: number[][], gamma = 1, lambda = 0.95): GaeResult {
  if (rewards.length !== mask.length || values.length !== mask.length) throw new Error(`gae: ${rewards.length} reward and ${values.length} value rows for ${mask.length} mask rows`)
  const advantages = mask.map((row) => row.map(() => 0))
  const returns = mask.map((row) => row.map(() => 0))
  mask.forEach((row, b) => {
    if (rewards[b].length !== row.length || values[b].length !== row.length) throw new Error(`gae: row ${b} lengths differ from its mask`)
    let last = 0
    for (let t = row.length - 1; t >= 0; t--) {
      if (!row[t]) {
        last = 0
        continue
      }
      const next = t + 1 < row.length && row[t + 1] ? values[b][t + 1] : 0
      const delta = rewards[b][t] + gamma * next - values[b][t]
      last = delta + gamma * lambda * last
      advantages[b][t] = last
      returns[b][t] = last + values[b][t]
    }
  })
  return { advantages, returns }
}
