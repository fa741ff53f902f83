// evolve's report, rewritten whole from the state after every stage (so a rerun never
// duplicates a line): DIR/rounds.jsonl (one line per finished round), DIR/REPORT.md (the
// paper-style table, round by round) and DIR/plot.svg (accuracy per round by level, and the
// share of the pool solved).
import { join } from 'node:path';
import { writeTextAtomic } from '../io/atomic.js';
import type { EvalSummary } from '../run/evaluate.js';
import type { EvolveConfig } from './config.js';
import type { EvolveState, RoundState } from './evolve.js';

type Finished = Required<RoundState> & { round: number };

function finished(state: EvolveState): Finished[] {
  return Object.entries(state.rounds)
    .filter(([, s]) => s.synth && s.select && s.train && s.eval)
    .map(([r, s]) => ({ ...(s as Required<RoundState>), round: Number(r) }))
    .sort((a, b) => a.round - b.round);
}

const pct = (x: number | undefined) => (x === undefined ? '' : (100 * x).toFixed(1));

/** One rounds.jsonl line: what the round searched, selected and trained, and how its models did. */
function roundLine(s: Finished) {
  const evals = Object.fromEntries(
    Object.entries(s.eval.sets).map(([name, e]) => [name, { greedy: evalFigures(e.greedy), mcts: { ...evalFigures(e.mcts), majorityAccuracy: e.mcts.majorityAccuracy, goldFoundShare: e.mcts.goldFoundShare ?? null } }]),
  );
  return {
    round: s.round,
    settings: s.settings,
    poolSolvedShare: s.synth.poolSolved / s.synth.pool,
    /** solved in rounds 1..r by level, where the pool gives levels */
    poolSolvedByLevel: s.synth.poolByLevel ? Object.fromEntries(Object.entries(s.synth.poolByLevel).map(([l, x]) => [l, x.solved / x.pool])) : null,
    searched: s.synth.problems,
    solved: s.synth.solved,
    sftExamples: s.select.sft,
    /** the reviewer PPM's trajectories where it takes every verified one (reviewerTrajectories "all"), else null: it learns from the SFT examples */
    reviewerExamples: s.select.reviewer ?? null,
    pairs: s.select.pairs,
    heldOutPairs: s.select.heldOutPairs,
    /** the engine's, by the exported PPM as the search runs it (any kind) */
    ppmPairAccuracy: s.eval.pairs?.accuracy ?? null,
    /** the builtin trainer's, by its torch model (pairwise PPMs only): a check on the engine's */
    ppmPairAccuracyTrainer: (s.train.ppm['eval'] as { pair_accuracy?: number } | undefined)?.pair_accuracy ?? null,
    /** held-out: on the pairs of problems kept out of training; training: none were held out */
    ppmPairAccuracyOn: s.select.heldOutPairs > 0 ? 'held-out' : 'training',
    eval: evals,
    seconds: { synth: s.synth.seconds, select: s.select.seconds, train: s.train.seconds, eval: s.eval.seconds },
    rolloutsPerSecond: s.synth.rolloutsPerSecond,
  };
}

function evalFigures(e: EvalSummary) {
  return { accuracy: e.accuracy, problems: e.problems, byLevel: Object.fromEntries(Object.entries(e.byLevel).map(([l, t]) => [l, t.accuracy])) };
}

export async function writeReport(out: string, config: EvolveConfig, state: EvolveState): Promise<void> {
  const rounds = finished(state);
  const lines = rounds.map(roundLine);
  await writeTextAtomic(join(out, 'rounds.jsonl'), lines.map((l) => JSON.stringify(l) + '\n').join(''));
  const baseline = state.baseline ? Object.fromEntries(Object.entries(state.baseline.sets).map(([name, e]) => [name, evalFigures(e)])) : undefined;
  await writeTextAtomic(join(out, 'REPORT.md'), markdown(config, lines, baseline));
  await writeTextAtomic(join(out, 'plot.svg'), plot(lines, baseline));
}

function ppmKindLine(config: EvolveConfig): string {
  if (config.ppmKind === 'pairwise') return "PPM: pairwise (a value head trained on the round's preference pairs). Pair accuracy: the exported PPM, scored by the engine.";
  const data = config.reviewerTrajectories === 'all' ? 'every distinct verified trajectory of the latest trees (reviewerExamples in rounds.jsonl)' : "the round's SFT examples";
  return `PPM: reviewer (a language model trained on ${data} to write the question after a trajectory); the preference pairs are not trained on, they measure its pair accuracy, scored by the engine.`;
}

/** The bootstrap policy's greedy figures per eval set (round 0). */
type Baseline = Record<string, ReturnType<typeof evalFigures>>;

function markdown(config: EvolveConfig, lines: ReturnType<typeof roundLine>[], baseline: Baseline | undefined): string {
  const out = [`# rstar evolve: ${lines.length} of ${config.rounds} rounds`, '', `Pool: ${config.pool.join(', ')}; bootstrap policy: ${config.policy}.`, '', ppmKindLine(config), ''];
  out.push('| round | search | pool solved % | SFT examples | PPM pairs | PPM pair acc. % | synth rollouts/s | minutes (synth / train / eval) |');
  out.push('|---:|---|---:|---:|---:|---:|---:|---|');
  for (const l of lines) {
    const s = l.settings;
    const m = (x: number) => (x / 60).toFixed(1);
    out.push(
      `| ${l.round} | ${s.rollouts} rollouts, n ${s.n}, ${s.ppm ? 'PPM' : 'terminal-guided'}${s.problems === 'unsolved' ? ', unsolved only' : ''} | ${pct(l.poolSolvedShare)} | ${l.sftExamples} | ${l.pairs} | ${pct(l.ppmPairAccuracy ?? undefined)}${l.ppmPairAccuracyOn === 'training' ? ' (train)' : ''} | ${l.rolloutsPerSecond.toFixed(1)} | ${m(l.seconds.synth)} / ${m(l.seconds.train)} / ${m(l.seconds.eval)} |`,
    );
  }
  const poolLevels = [...new Set(lines.flatMap((l) => Object.keys(l.poolSolvedByLevel ?? {})))].sort();
  if (poolLevels.length > 0) {
    out.push('', '## Pool solved % by level (by any round so far)', '');
    out.push(`| round | ${poolLevels.map((x) => `level ${x}`).join(' | ')} |`);
    out.push(`|---:|${poolLevels.map(() => '---:').join('|')}|`);
    for (const l of lines) out.push(`| ${l.round} | ${poolLevels.map((x) => pct(l.poolSolvedByLevel?.[x])).join(' | ')} |`);
  }
  for (const name of [...new Set([...Object.keys(baseline ?? {}), ...lines.flatMap((l) => Object.keys(l.eval))])]) {
    const levels = [...new Set([...Object.keys(baseline?.[name]?.byLevel ?? {}), ...lines.flatMap((l) => Object.keys(l.eval[name]?.greedy.byLevel ?? {}))])].sort();
    out.push('', `## ${name}: accuracy % (greedy pass@1 / MCTS with the round's PPM)`, '');
    out.push(`| round | all | ${levels.map((x) => `level ${x}`).join(' | ')} | MCTS majority vote | MCTS gold found |`);
    out.push(`|---:|---:|${levels.map(() => '---:').join('|')}|---:|---:|`);
    const b = baseline?.[name];
    if (b) out.push(`| 0 (bootstrap) | ${pct(b.accuracy)} / | ${levels.map((x) => `${pct(b.byLevel[x])} /`).join(' | ')} | | |`);
    for (const l of lines) {
      const e = l.eval[name];
      if (!e) continue;
      const cell = (g?: number, t?: number) => `${pct(g)} / ${pct(t)}`;
      out.push(`| ${l.round} | ${cell(e.greedy.accuracy, e.mcts.accuracy)} | ${levels.map((x) => cell(e.greedy.byLevel[x], e.mcts.byLevel[x])).join(' | ')} | ${pct(e.mcts.majorityAccuracy)} | ${pct(e.mcts.goldFoundShare ?? undefined)} |`);
    }
  }
  out.push('', 'Figures per round: rounds.jsonl. Plot: plot.svg.', '');
  return out.join('\n');
}

/**
 * Accuracy per round (MCTS solid, greedy dashed, round 0 the bootstrap): by level for the first
 * eval set, over all problems for each further one (a set of other templates, whose curve may
 * be the run's point); and pool solved %.
 */
function plot(lines: ReturnType<typeof roundLine>[], baseline: Baseline | undefined): string {
  const W = 760;
  const pad = { left: 48, right: 230, top: 24, bottom: 40 };
  const rounds = [...(baseline ? [0] : []), ...lines.map((l) => l.round)];
  const first = baseline ? 0 : 1;
  const last = Math.max(first + 1, ...rounds);
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
  const otherColors = ['#17becf', '#bcbd22', '#393b79', '#637939'];
  const series: { name: string; points: [number, number][]; color: string; dash?: boolean }[] = [
    { name: 'pool solved', points: lines.map((l) => [l.round, l.poolSolvedShare]), color: '#000' },
  ];
  const sets = [...new Set([...Object.keys(baseline ?? {}), ...lines.flatMap((l) => Object.keys(l.eval))])];
  const at = (r: number, v: number | undefined): [number, number][] => (v !== undefined ? [[r, v]] : []);
  const set = sets[0];
  if (set !== undefined) {
    const levels = [...new Set([...Object.keys(baseline?.[set]?.byLevel ?? {}), ...lines.flatMap((l) => Object.keys(l.eval[set]?.mcts.byLevel ?? {}))])].sort();
    levels.forEach((level, i) => {
      const color = colors[i % colors.length]!;
      series.push({ name: `${set} L${level} MCTS`, color, points: lines.flatMap((l) => at(l.round, l.eval[set]?.mcts.byLevel[level])) });
      series.push({ name: `${set} L${level} greedy`, color, dash: true, points: [...at(0, baseline?.[set]?.byLevel[level]), ...lines.flatMap((l) => at(l.round, l.eval[set]?.greedy.byLevel[level]))] });
    });
  }
  sets.slice(1).forEach((other, i) => {
    const color = otherColors[i % otherColors.length]!;
    series.push({ name: `${other} MCTS`, color, points: lines.flatMap((l) => at(l.round, l.eval[other]?.mcts.accuracy)) });
    series.push({ name: `${other} greedy`, color, dash: true, points: [...at(0, baseline?.[other]?.accuracy), ...lines.flatMap((l) => at(l.round, l.eval[other]?.greedy.accuracy))] });
  });
  // tall enough for the legend, one line per series
  const H = Math.max(360, pad.top + 8 + series.length * 15);
  const w = W - pad.left - pad.right;
  const h = H - pad.top - pad.bottom;
  const x = (r: number) => pad.left + ((r - first) / (last - first)) * w;
  const y = (v: number) => pad.top + (1 - v) * h;
  const svg: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
  ];
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    svg.push(`<line x1="${pad.left}" x2="${pad.left + w}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`, `<text x="${pad.left - 6}" y="${y(v) + 4}" text-anchor="end">${v * 100}%</text>`);
  }
  for (const r of rounds) svg.push(`<text x="${x(r)}" y="${pad.top + h + 16}" text-anchor="middle">${r === 0 ? 'bootstrap' : `round ${r}`}</text>`);
  series.forEach((s, i) => {
    const d = s.points.map(([r, v], k) => `${k === 0 ? 'M' : 'L'}${x(r).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    if (s.points.length > 0) svg.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ' stroke-dasharray="5,4"' : ''}/>`);
    for (const [r, v] of s.points) svg.push(`<circle cx="${x(r).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${s.color}"/>`);
    const ly = pad.top + 8 + i * 15;
    svg.push(`<line x1="${W - pad.right + 10}" x2="${W - pad.right + 30}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dash ? ' stroke-dasharray="5,4"' : ''}/>`);
    svg.push(`<text x="${W - pad.right + 34}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  });
  svg.push(`<text x="${pad.left}" y="14" font-weight="bold">accuracy and pool solved, by round</text>`, '</svg>', '');
  return svg.join('\n');
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}
