import { describe, it, expect } from 'vitest'
import { runDemoCommand, formatReport, formatSweep, parseShares } from '../../core/demo/cli'
import { bufferIO } from '../../core/cli/io'

describe('workbench demo (command line)', () => {
  it('prints help', async () => {
    const io = bufferIO()
    expect(await runDemoCommand(['--help'], io)).toBe(0)
    expect(io.stdout.join('\n')).toMatch(/--size tiny\|default/)
  })

  it('rejects a bad size, seed or option with a clear message', async () => {
    await expect(runDemoCommand(['--size', 'huge'], bufferIO())).rejects.toThrow(/--size must be one of tiny, default, got "huge"/)
    await expect(runDemoCommand(['--seed', 'abc'], bufferIO())).rejects.toThrow(/--seed must be a whole number/)
    await expect(runDemoCommand(['--frobnicate'], bufferIO())).rejects.toThrow(/demo: /)
    await expect(runDemoCommand(['--backend', 'tpu'], bufferIO())).rejects.toThrow(/not one of/)
  })

  it('reads --shares and refuses sweep options without --safety-sweep', async () => {
    expect(parseShares('0, 0.25,0.5')).toEqual([0, 0.25, 0.5])
    expect(() => parseShares('0,1.5')).toThrow(/--shares takes numbers in 0..1 separated by commas, got "1.5" in "0,1.5"/)
    expect(() => parseShares('0,,1')).toThrow(/got "" in/)
    await expect(runDemoCommand(['--shares', '0,0.5'], bufferIO())).rejects.toThrow(/--shares goes with --safety-sweep/)
    await expect(runDemoCommand(['--safety-sweep', '--from', 'base'], bufferIO())).rejects.toThrow(/--from must be one of sft_safety, sft, safe, got "base"/)
  })

  it('formats the safety sweep: one row per share beside the model it started from', () => {
    const scores = (v: number, h: number) => ({ gold_accuracy: 0.1, gold_helpfulness: h, violation_rate: v, false_refusal_rate: 0 })
    const text = formatSweep({
      size: 'tiny', seed: 1, dataDir: '/d', wallSeconds: 65, reused: true, from: 'sft',
      runs: { sft: 's1', eval_sft: 'e1', reward_helpfulness: 'rh', reward_safety: 'rs', start: 's1', eval_start: 'e1' },
      sft: scores(0.25, 0.232), start: scores(0.25, 0.232),
      rows: [
        { share: 0, drawn_share: 0, run_id: 'r0', eval_run_id: 'x0', scores: scores(0.075, 0.19) },
        { share: 0.5, drawn_share: 0.5, run_id: 'r5', eval_run_id: 'x5', scores: scores(0.2, 0.19) },
      ],
    })
    expect(text).toMatch(/finished in 1m05s; reused sft s1/)
    expect(text).toMatch(/sft\s+-\s+-\s+25\.0%\s+0\.232/)
    expect(text).toMatch(/rs r0\s+0\s+0\.0%\s+7\.5%\s+0\.190/)
    expect(text).toMatch(/rs r5\s+0\.5\s+50\.0%\s+20\.0%\s+0\.190/)
    expect(text).not.toMatch(/safe \(start\)/)
  })

  it('formats the base / SFT / RS / PPO / safe table, the RLHF objective, adherence by turn and the reward models beside their baselines', () => {
    const text = formatReport({
      size: 'tiny',
      seed: 1,
      dataDir: '/d',
      wallSeconds: 125,
      runs: {
        tokenizer: 't', pretrain: 'p', sft: 's', eval_base: 'eb', eval_sft: 'es', reward_helpfulness: 'rh', reward_safety: 'rsafe',
        annotate: 'an', on_policy_preferences: 'op', reward_helpfulness_on_policy: 'rho',
        rs: 'r1', eval_rs: 'er', ppo: 'p1', eval_ppo: 'ep',
        distill: 'cd', eval_safe: 'ef', safety_eval_sft: 'ss', safety_eval_safe: 'sf', gatt: 'g',
      },
      base: { gold_accuracy: 0, gold_helpfulness: 0.05, violation_rate: 0.1, false_refusal_rate: 0 },
      sft: { gold_accuracy: 0.25, gold_helpfulness: 0.4, violation_rate: 0, false_refusal_rate: NaN },
      rs: { gold_accuracy: 0.3, gold_helpfulness: 0.45, violation_rate: 0.2, false_refusal_rate: 0.05 },
      ppo: { gold_accuracy: 0.35, gold_helpfulness: 0.5, violation_rate: 0.15, false_refusal_rate: 0.1 },
      rlhf: { rs_kept_reward_mean: 1.5, rs_sample_reward_mean: 0.25, rs_rm_gold_agreement: 0.625, rs_rm_gold_pairs: 80, rs_gold_kept: 0.25, rs_gold_sampled: 0.375, rs_gold_best_possible: 0.5, ppo_scores: 0.75, ppo_kl: 0.125, ppo_rlhf_reward: 0.5 },
      on_policy_pairs: { pairs: 120, ties_dropped: 8 },
      safe: { gold_accuracy: 0.2, gold_helpfulness: 0.35, violation_rate: 0.05, false_refusal_rate: 0.1, distill_kept: 30, distill_dropped: 10 },
      violations_by_turns: { sft: { single_turn: 0.3, multi_turn: 0.5 }, safe: { single_turn: 0.1, multi_turn: 0.2 } },
      adherence: {
        turns: 3,
        without: { mean: 0.5, last_turn: 0, by_turn: [1, 0.5, 0] },
        with: { mean: 0.9, last_turn: 0.75, by_turn: [1, 1, 0.75] },
      },
      reward: {
        helpfulness: { accuracy: 0.8, by_rating: { significantly_better: 0.9, negligibly_better: 0.5 }, baseline_shorter: 0.3, baseline_longer: 0.7, baseline_bow: 0.75, eval_pairs: 150 },
        safety: { accuracy: 0.95, by_rating: { significantly_better: 0.97 }, baseline_shorter: 0.6, baseline_longer: 0.4, baseline_bow: 0.9, eval_pairs: 48 },
        helpfulness_on_policy: { accuracy: 0.85, by_rating: {}, baseline_shorter: 0.3, baseline_longer: 0.7, baseline_bow: 0.75, eval_pairs: 150 },
      },
    })
    expect(text).toMatch(/finished in 2m05s/)
    expect(text).toMatch(/base\s+sft\s+rs\s+ppo\s+safe/)
    expect(text).toMatch(/gold task accuracy\s+0\.0%\s+25\.0%\s+30\.0%\s+35\.0%\s+20\.0%/)
    expect(text).toMatch(/mean gold helpfulness\s+0\.050\s+0\.400\s+0\.450\s+0\.500\s+0\.350/)
    expect(text).toMatch(/violation rate \(adversarial\)\s+10\.0%\s+0\.0%\s+20\.0%\s+15\.0%\s+5\.0%/)
    expect(text).toMatch(/false refusal rate \(benign\)\s+0\.0%\s+n\/a\s+5\.0%\s+10\.0%\s+10\.0%/)
    expect(text).toMatch(/multi-turn \(safety_eval\)\s+50\.0%\s+20\.0%/)
    expect(text).toMatch(/kept answers' reward 1\.500 \(all samples 0\.250\); the reward orders the policy's answers as gold does in 62\.5% of 80 pairs; gold helpfulness of the kept answers 0\.250 \(a random sample 0\.375, the gold-best of K 0\.500\)/)
    expect(text).toMatch(/annotation round on sft samples: 120 pairs labelled by the gold judges \(8 ties dropped\); helpfulness RM retrained with them: 85\.0% held out/)
    expect(text).toMatch(/objective\/scores 0\.750, objective\/kl 0\.125, objective\/rlhf_reward 0\.500/)
    expect(text).toMatch(/30 distilled answers kept, 10 dropped/)
    expect(text).toMatch(/without GAtt\s+100%\s+50%\s+0%\s+50%\s+0%/)
    expect(text).toMatch(/with GAtt\s+100%\s+100%\s+75%\s+90%\s+75%/)
    expect(text).toMatch(/gatt g/)
    expect(text).toMatch(/reward model accuracy \(held out\)\s+80\.0%\s+95\.0%/)
    expect(text).toMatch(/negligibly better\s+50\.0%\s+n\/a/)
    expect(text).toMatch(/baseline: bag of words\s+75\.0%\s+90\.0%/)
    expect(text).toMatch(/reward safety rsafe, annotation an, on-policy preferences op, reward helpfulness \(on-policy\) rho, rejection sampling r1, eval rs er, ppo p1, eval ppo ep/)
  })
})
