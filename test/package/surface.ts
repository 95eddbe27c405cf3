import { readFileSync } from 'node:fs';
import ts from 'typescript';

const exported = (st: ts.Statement) =>
  ts.canHaveModifiers(st) && (ts.getModifiers(st) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);

/**
 * One public entry's exported names, read from its source: `{ values, types, star }`. Both
 * `export { a, type B }` lists and declarations made in the entry itself (`export class`,
 * `export function`, `export const`, `export interface`, `export type`) count.
 */
export function exportedNames(file: string): { values: string[]; types: string[]; star: boolean } {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const values: string[] = [];
  const types: string[] = [];
  let star = false;
  for (const st of sf.statements) {
    if (ts.isExportDeclaration(st)) {
      if (!st.exportClause || !ts.isNamedExports(st.exportClause)) {
        star = true;
        continue;
      }
      for (const el of st.exportClause.elements) (st.isTypeOnly || el.isTypeOnly ? types : values).push(el.name.text);
    } else if (exported(st)) {
      if (ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st)) types.push(st.name.text);
      else if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) || ts.isEnumDeclaration(st)) && st.name)
        values.push(st.name.text);
      else if (ts.isVariableStatement(st))
        for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name)) values.push(d.name.text);
    }
  }
  return { values: values.sort(), types: types.sort(), star };
}
