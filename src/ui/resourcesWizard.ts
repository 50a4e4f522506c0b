import * as vscode from 'vscode';
import type { InstanceType } from '../core/instanceTypes';
import { choicesAt, featureCounts, problemAt, ResourceChoice, ResourceStep } from '../core/resourceChoices';
import { CPU_FEATURES, CpuFeature, describeNeed, Resources } from '../core/resources';
import { describeNoFit, optionsFor } from '../core/chooseInstanceTypes';

const CPU_FEATURE_NAMES: Record<CpuFeature, string> = {
  avx: 'AVX instructions',
  avx2: 'AVX2 instructions',
  avx512: 'AVX-512 instructions',
  intel: 'an Intel processor',
  amd: 'an AMD processor',
};

const TITLES: Record<ResourceStep, string> = {
  cpu: 'Logical CPUs per job',
  memoryGb: 'Memory per job',
  gpus: 'GPUs per job',
  gpuMemoryGb: 'GPU memory per job, across its GPUs',
  maxEvictionRatePct: 'Highest spot eviction rate',
};

const CUSTOM_PROMPTS: Record<ResourceStep, string> = {
  cpu: 'Logical CPUs, e.g. 6 or 0.5',
  memoryGb: 'Memory in GB, e.g. 12 or 0.5',
  gpus: 'GPUs, a whole number',
  gpuMemoryGb: 'GPU memory in GB across the job\'s GPUs; 0 means any',
  maxEvictionRatePct: 'Highest eviction rate in %, 0 to 100; 0 means on-demand only',
};

type Answer<T> = { value: T } | 'back' | undefined;

/**
 * Set Default Resources: CPU → memory → GPUs → GPU memory (with GPUs) → CPU features → eviction
 * rate. Each step starts on the current setting, offers only what some instance type in the cloud's
 * catalog can run given the earlier choices (with the cheapest way to run it), has "Custom…" with
 * an input box checked as you type, and a Back button. Returns what was chosen, or undefined.
 * `types` is undefined when the catalog could not be read: then values are only range-checked.
 */
export async function chooseResources(current: Resources, types: InstanceType[] | undefined): Promise<Resources | undefined> {
  const chosen: Partial<Resources> = {};
  const steps = ['cpu', 'memoryGb', 'gpus', 'gpuMemoryGb', 'cpuFeatures', 'maxEvictionRatePct'] as const;
  // GPU memory means nothing without GPUs: that step is skipped, and cleared.
  const applies = (s: (typeof steps)[number]) => s !== 'gpuMemoryGb' || (chosen.gpus ?? 0) > 0;
  for (let i = 0; i < steps.length; ) {
    const step = steps[i];
    if (!applies(step)) {
      chosen.gpuMemoryGb = 0;
      i++;
      continue;
    }
    const shown = steps.filter(applies);
    const position = { step: shown.indexOf(step) + 1, totalSteps: shown.length, back: i > 0 };
    const answer =
      step === 'cpuFeatures'
        ? await pickFeatures(current.cpuFeatures ?? [], types, chosen, position)
        : await pickNumber(step, current[step] ?? 0, types, chosen, position);
    if (answer === undefined) return undefined;
    if (answer === 'back') {
      do i--;
      while (i > 0 && !applies(steps[i]));
      continue;
    }
    (chosen as Record<string, unknown>)[step] = answer.value;
    i++;
  }
  return chosen as Resources;
}

interface Position {
  step: number;
  totalSteps: number;
  back: boolean;
}

interface NumberItem extends vscode.QuickPickItem {
  value?: number;
}

async function pickNumber(step: ResourceStep, current: number, types: InstanceType[] | undefined, soFar: Partial<Resources>, at: Position): Promise<Answer<number>> {
  for (;;) {
    const choices = choicesAt(step, types, soFar, current);
    const items: NumberItem[] = [
      ...choices.map((c: ResourceChoice) => ({ label: c.label, description: [c.current ? 'current' : undefined, c.description].filter(Boolean).join(' · '), value: c.value })),
      { label: '', kind: vscode.QuickPickItemKind.Separator },
      { label: 'Custom…', description: 'type a value' },
    ];
    const picked = await quickPick(items, items.find((it) => it.value === current), { title: TITLES[step], ...at });
    if (picked === undefined || picked === 'back') return picked;
    if (picked.value.value !== undefined) return { value: picked.value.value };
    const typed = await inputNumber(step, current, types, soFar, at);
    if (typed !== 'back') return typed; // Back from the input box: this step's list again
  }
}

async function inputNumber(step: ResourceStep, current: number, types: InstanceType[] | undefined, soFar: Partial<Resources>, at: Position): Promise<Answer<number>> {
  const box = vscode.window.createInputBox();
  Object.assign(box, { title: TITLES[step], step: at.step, totalSteps: at.totalSteps, prompt: CUSTOM_PROMPTS[step], value: String(current), ignoreFocusOut: true });
  box.buttons = [vscode.QuickInputButtons.Back];
  const check = () => (box.validationMessage = problemAt(step, box.value, types, soFar));
  check();
  return new Promise((resolve) => {
    let done = false;
    const finish = (a: Answer<number>) => {
      if (done) return;
      done = true;
      resolve(a);
      box.dispose();
    };
    box.onDidChangeValue(check);
    box.onDidTriggerButton(() => finish('back'));
    box.onDidAccept(() => {
      if (!check()) finish({ value: Number(box.value) });
    });
    box.onDidHide(() => finish(undefined));
    box.show();
  });
}

interface FeatureItem extends vscode.QuickPickItem {
  feature: CpuFeature;
}

async function pickFeatures(current: CpuFeature[], types: InstanceType[] | undefined, soFar: Partial<Resources>, at: Position): Promise<Answer<CpuFeature[]>> {
  const counts = types ? featureCounts(types, soFar, CPU_FEATURES) : {};
  const items: FeatureItem[] = CPU_FEATURES.map((f) => ({ label: f, description: [CPU_FEATURE_NAMES[f], counts[f]].filter(Boolean).join(' · '), feature: f }));
  const qp = vscode.window.createQuickPick<FeatureItem>();
  Object.assign(qp, { title: 'CPU features instances must have: none picked means any', step: at.step, totalSteps: at.totalSteps, canSelectMany: true, ignoreFocusOut: true });
  qp.items = items;
  qp.selectedItems = items.filter((it) => current.includes(it.feature));
  if (at.back) qp.buttons = [vscode.QuickInputButtons.Back];
  return new Promise((resolve) => {
    let done = false;
    const finish = (a: Answer<CpuFeature[]>) => {
      if (done) return;
      done = true;
      resolve(a);
      qp.dispose();
    };
    qp.onDidTriggerButton(() => finish('back'));
    qp.onDidAccept(() => {
      const features = qp.selectedItems.map((it) => it.feature);
      const need = { cpu: 1, memoryGb: 1e-6, gpus: 0, maxEvictionRatePct: 100, ...soFar, cpuFeatures: features } as Resources;
      // A multi-pick can't be checked as you go: a set no type has is refused on accept, with why.
      if (types && features.length && !optionsFor(types, need).length) {
        qp.placeholder = describeNoFit(types, need);
        return;
      }
      finish({ value: features });
    });
    qp.onDidHide(() => finish(undefined));
    qp.show();
  });
}

/** A single-pick list that starts on `active` (showQuickPick can't), with Back from the second step. */
function quickPick<T extends vscode.QuickPickItem>(items: T[], active: T | undefined, o: { title: string } & Position): Promise<Answer<T>> {
  const qp = vscode.window.createQuickPick<T>();
  Object.assign(qp, { title: o.title, step: o.step, totalSteps: o.totalSteps, ignoreFocusOut: true, matchOnDescription: true });
  qp.items = items;
  if (active) qp.activeItems = [active];
  if (o.back) qp.buttons = [vscode.QuickInputButtons.Back];
  return new Promise((resolve) => {
    let done = false;
    const finish = (a: Answer<T>) => {
      if (done) return;
      done = true;
      resolve(a);
      qp.dispose();
    };
    qp.onDidTriggerButton(() => finish('back'));
    qp.onDidAccept(() => qp.activeItems[0] && finish({ value: qp.activeItems[0] }));
    qp.onDidHide(() => finish(undefined));
    qp.show();
  });
}

/** "2 CPUs, 4 GB, 1 GPU with 16 GB, avx2, spot up to 10% eviction" for the confirmation. */
export function describeChoice(r: Resources): string {
  return `${describeNeed(r)}, ${r.maxEvictionRatePct ? `spot up to ${r.maxEvictionRatePct}% eviction` : 'on-demand only'}`;
}
