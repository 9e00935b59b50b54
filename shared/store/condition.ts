/**
 * A condition expression that holds when every clause holds, a clause holding when any one of its alternatives
 * does, written out as an OR of ANDs with no parentheses. DynamoDB binds AND tighter than OR, so it means
 * what the bracketed form means. dynalite's expression parser backtracks over every bracketed group, at about
 * half a millisecond a group, more than the rest of a local conditional write costs; the fold's and the
 * emitter's conditions are a few clauses of one or two alternatives, so the product stays short.
 *
 * An alternative may be a conjunction (`a AND b`) but never contain OR: that would change its meaning here.
 */
export function everyOf(clauses: readonly (string | readonly string[])[]): string {
  let terms: string[][] = [[]];
  for (const clause of clauses) {
    const alternatives = typeof clause === 'string' ? [clause] : clause;
    if (alternatives.length === 0) throw new Error('a condition clause with no alternatives');
    for (const alternative of alternatives)
      if (/\bOR\b/.test(alternative)) throw new Error(`an alternative may not contain OR: ${alternative}`);
    terms = terms.flatMap((term) => alternatives.map((alternative) => [...term, alternative]));
  }
  return terms.map((term) => term.join(' AND ')).join(' OR ');
}
