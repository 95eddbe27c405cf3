import { buildCatalog, classifyTask, rankModels, ModelRouter } from '/work/main/src/router/index.js';
import { benchProviders } from '/work/main/bench/router-decision.js';
const cat = buildCatalog(benchProviders(150));
const list = cat.list();
function t(name: string, n: number, fn: (i:number)=>unknown) {
  for (let i=0;i<n/5;i++) fn(i);
  const t0 = performance.now(); for (let i=0;i<n;i++) fn(i); const t1 = performance.now();
  console.log(name, ((t1-t0)/n*1000).toFixed(2), 'µs');
}
const texts = ['Build a REST API with authentication and rate limiting in TypeScript','Say hello','Update the README with the new CLI flags'];
t('classify text', 100000, i => classifyTask({ agent: 'general', task: texts[i%3]! }));
t('classify role', 100000, i => classifyTask({ agent: 'coder', task: texts[i%3]! }));
for (const mode of ['cost','balanced'] as const) {
  t('rank '+mode+' limit7', 100000, i => rankModels(list, { mode, promptTokens: 4000+i%3, outputTokens: 1000, floor: 60, limit: 7 }));
}
const r = new ModelRouter(cat, {});
t('select general', 100000, i => r.select({ agent: 'general', task: texts[i%3]!, now: 0 }));
t('select coder', 100000, i => r.select({ agent: 'coder', task: texts[i%3]!, now: 0 }));
