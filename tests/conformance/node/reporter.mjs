// node --test reporter that counts the cases per SDK flavour (test names start with "[flavour]")
// and writes one line per flavour: "<flavour> <passed> passed, <failed> failed".
export default async function* perFlavour(source) {
  const rows = new Map();
  for await (const ev of source) {
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail') continue;
    const m = /^\[([^\]]+)\] /.exec(ev.data.name || '');
    if (!m || ev.data.details?.type === 'suite') continue;
    const r = rows.get(m[1]) || { pass: 0, fail: 0, skip: 0 };
    if (ev.type === 'test:fail') r.fail += 1;
    else if (ev.data.skip || ev.data.todo) r.skip += 1;
    else r.pass += 1;
    rows.set(m[1], r);
  }
  for (const [name, r] of rows) yield `${name} ${r.pass} passed, ${r.fail} failed${r.skip ? `, ${r.skip} skipped` : ''}\n`;
}
