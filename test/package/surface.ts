import { readFileSync } from 'node:fs';
import ts from 'typescript';

/** One public entry's exported names, read from its source: `{ values, types, star }`. */
export function exportedNames(file: string): { values: string[]; types: string[]; star: boolean } {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const values: string[] = [];
  const types: string[] = [];
  let star = false;
  for (const st of sf.statements) {
    if (!ts.isExportDeclaration(st)) continue;
    if (!st.exportClause || !ts.isNamedExports(st.exportClause)) {
      star = true;
      continue;
    }
    for (const el of st.exportClause.elements) (st.isTypeOnly || el.isTypeOnly ? types : values).push(el.name.text);
  }
  return { values: values.sort(), types: types.sort(), star };
}
