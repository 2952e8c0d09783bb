import type { ScenarioResult } from '../lib/report.js';
export async function recoveryScenario(_o: { progress: (l: string) => void }): Promise<ScenarioResult> {
  throw new Error('the recovery scenario is not written yet');
}
