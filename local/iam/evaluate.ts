/**
 * Whether one policy statement applies to a request, as IAM decides it: Action/NotAction (wildcards,
 * case-insensitive), Resource/NotResource (wildcards within ARN segments), Principal for resource-based
 * policies, and the Condition block. A condition this code cannot decide is returned as unevaluated
 * with the reason, never treated as true or false silently.
 *
 * References: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html,
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html,
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html.
 */

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Principal?: unknown;
  NotPrincipal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

export interface PolicyDocument {
  Statement: PolicyStatement | PolicyStatement[];
}

/**
 * The request as conditions see it. `keys` holds every context key the caller can vouch for, with
 * undefined for a key known to be absent; a key not listed is unknown and makes its condition
 * unevaluated.
 */
export interface RequestContext {
  /** aws:PrincipalArn: the role (or user) ARN. */
  principalArn: string;
  /** The ARN AWS names in errors: the assumed-role session for a role. */
  sessionArn: string;
  account: string;
  partition: string;
  keys: Record<string, string | string[] | undefined>;
}

export interface UnevaluatedCondition {
  operator: string;
  key: string;
  reason: string;
}

/** How a resource-based policy's Principal relates to the caller. */
export type PrincipalMatch = 'caller' | 'account' | 'none';

export interface StatementResult {
  /** Action, resource, principal and every condition match. */
  applies: boolean;
  /** For a resource policy: whether the statement names the caller, its account (delegating to IAM), or neither. */
  principal: PrincipalMatch;
  /**
   * Everything but some unevaluated conditions matches: the statement may apply. A Deny is then taken
   * as applying and an Allow as not, and the conditions are reported.
   */
  undecided: boolean;
  unevaluated: UnevaluatedCondition[];
}

export function statementsOf(document: PolicyDocument): PolicyStatement[] {
  return Array.isArray(document.Statement) ? document.Statement : [document.Statement];
}

const list = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

export function evaluateStatement(
  statement: PolicyStatement,
  request: { action: string; resource: string; context: RequestContext; resourcePolicy: boolean },
): StatementResult {
  const none: StatementResult = { applies: false, principal: 'none', undecided: false, unevaluated: [] };
  // A statement must name its actions and resources (or their complement); one that does not is invalid.
  if (statement.Action === undefined && statement.NotAction === undefined) return none;
  if (statement.Resource === undefined && statement.NotResource === undefined) return none;
  const actionHit =
    statement.Action !== undefined
      ? list(statement.Action).some((pattern) => actionMatches(pattern, request.action))
      : !list(statement.NotAction).some((pattern) => actionMatches(pattern, request.action));
  if (!actionHit) return none;
  const deny = statement.Effect === 'Deny';
  const patterns = list(statement.Resource ?? statement.NotResource);
  // `${aws:username}` and other policy variables take their value from the request: not known here.
  const variables = patterns
    .filter((pattern) => pattern.includes('${'))
    .map((pattern) => ({
      operator: 'Resource',
      key: pattern,
      reason: 'policy variables are not evaluated here',
    }));
  const resourceHit =
    statement.Resource !== undefined
      ? patterns.some((pattern) => resourceMatches(pattern, request.resource, deny))
      : !patterns.some((pattern) => resourceMatches(pattern, request.resource, !deny));
  if (!resourceHit && variables.length === 0) return none;
  const principal = request.resourcePolicy ? principalMatch(statement, request.context) : 'caller';
  if (principal === 'none') return none;
  const conditions = evaluateConditions(statement.Condition, request.context);
  const unevaluated = [...variables, ...conditions.unevaluated];
  const decided = unevaluated.length === 0;
  return {
    applies: conditions.holds && decided,
    principal,
    undecided: conditions.holds && !decided,
    unevaluated,
  };
}

/** Action names match case-insensitively, with `*` and `?`. */
export function actionMatches(pattern: string, action: string): boolean {
  return globRegex(pattern.toLowerCase(), false).test(action.toLowerCase());
}

/**
 * Whether a Resource pattern matches a request resource. A `*` in the request resource stands for all
 * the names it matches: an Allow must cover all of them, a Deny applies if it matches any.
 */
export function resourceMatches(pattern: string, resource: string, anyOf: boolean): boolean {
  if (pattern === '*') return true;
  if (!resource.includes('*')) return globRegex(pattern, true).test(resource);
  if (anyOf) return globsIntersect(pattern, resource);
  // Only a wildcard of the pattern can stand for the request's wildcard: replace it with characters no
  // pattern contains, long enough that `?`s cannot spell it.
  return globRegex(pattern, true).test(resource.replaceAll('*', SENTINEL));
}

const SENTINEL = '\u0001'.repeat(64);

/**
 * Wildcards stay within an ARN segment unless a `*` ends its segment, which may then extend past
 * colons (the IAM user guide's rule for resource ARNs).
 */
function globRegex(pattern: string, arn: boolean): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    const next = pattern[i + 1];
    if (char === '*') source += !arn || next === undefined || next === ':' ? '.*' : '[^:]*';
    else if (char === '?') source += arn ? '[^:]' : '.';
    else source += char.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

/** Whether some string matches both globs (each `*` any run, `?` one character). */
export function globsIntersect(a: string, b: string): boolean {
  const memo = new Map<number, boolean>();
  const step = (i: number, j: number): boolean => {
    const key = i * (b.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (i === a.length && j === b.length) result = true;
    else if (a[i] === '*')
      result = step(i + 1, j) || (j < b.length && step(i, j + 1)) || (b[j] === '*' && step(i + 1, j + 1));
    else if (b[j] === '*') result = step(i, j + 1) || (i < a.length && step(i + 1, j));
    else if (i === a.length || j === b.length) result = false;
    else result = (a[i] === '?' || b[j] === '?' || a[i] === b[j]) && step(i + 1, j + 1);
    memo.set(key, result);
    return result;
  };
  return step(0, 0);
}

function principalMatch(statement: PolicyStatement, context: RequestContext): PrincipalMatch {
  if (statement.NotPrincipal !== undefined) {
    // NotPrincipal: everyone except those listed.
    return principalsMatch(statement.NotPrincipal, context) === 'none' ? 'caller' : 'none';
  }
  return statement.Principal === undefined ? 'none' : principalsMatch(statement.Principal, context);
}

function principalsMatch(principal: unknown, context: RequestContext): PrincipalMatch {
  if (principal === '*') return 'caller';
  const aws = (principal as { AWS?: string | string[] } | undefined)?.AWS;
  let best: PrincipalMatch = 'none';
  for (const entry of list(aws)) {
    if (entry === '*' || entry === context.principalArn || entry === context.sessionArn) return 'caller';
    // Naming the account (or its root) delegates to the account's IAM policies.
    if (entry === context.account || entry === `arn:${context.partition}:iam::${context.account}:root`)
      best = 'account';
  }
  return best;
}

const STRING_OPERATORS: Record<string, (value: string, expected: string) => boolean> = {
  StringEquals: (value, expected) => value === expected,
  StringEqualsIgnoreCase: (value, expected) => value.toLowerCase() === expected.toLowerCase(),
  StringLike: (value, expected) => globRegex(expected, false).test(value),
  ArnEquals: (value, expected) => value === expected,
  ArnLike: (value, expected) => globRegex(expected, true).test(value),
  Bool: (value, expected) => value.toLowerCase() === expected.toLowerCase(),
};

/** The positive operator of a negated one: StringNotLike → StringLike. */
const NEGATED: Record<string, string> = {
  StringNotEquals: 'StringEquals',
  StringNotEqualsIgnoreCase: 'StringEqualsIgnoreCase',
  StringNotLike: 'StringLike',
  ArnNotEquals: 'ArnEquals',
  ArnNotLike: 'ArnLike',
};

/** All operators AND, all keys of an operator AND, the values of one key OR (NOR when negated). */
export function evaluateConditions(
  condition: PolicyStatement['Condition'],
  context: RequestContext,
): { holds: boolean; unevaluated: UnevaluatedCondition[] } {
  const unevaluated: UnevaluatedCondition[] = [];
  let holds = true;
  const keys = new Map(Object.entries(context.keys).map(([key, value]) => [key.toLowerCase(), value]));
  for (const [rawOperator, tests] of Object.entries(condition ?? {})) {
    for (const [key, expectedValue] of Object.entries(tests)) {
      const expected = (Array.isArray(expectedValue) ? expectedValue : [expectedValue]).map(String);
      const skip = (reason: string) => unevaluated.push({ operator: rawOperator, key, reason });
      if (rawOperator.includes(':')) {
        skip('ForAnyValue/ForAllValues set operators are not evaluated here');
        continue;
      }
      if (!keys.has(key.toLowerCase())) {
        skip(`the value of ${key} is not known to the local check`);
        continue;
      }
      const value = keys.get(key.toLowerCase());
      const values = value === undefined ? undefined : Array.isArray(value) ? value : [value];
      if (rawOperator === 'Null') {
        holds &&= expected.some((e) => (e === 'true') === (values === undefined));
        continue;
      }
      const ifExists = rawOperator.endsWith('IfExists');
      const operator = ifExists ? rawOperator.slice(0, -'IfExists'.length) : rawOperator;
      const positive = NEGATED[operator] ?? operator;
      const compare = STRING_OPERATORS[positive];
      if (!compare) {
        skip(`condition operator ${rawOperator} is not evaluated here`);
        continue;
      }
      if (values === undefined) {
        // An absent key fails a positive test and passes a negated one; IfExists passes either way.
        holds &&= ifExists || positive !== operator;
        continue;
      }
      const anyEqual = values.some((v) => expected.some((e) => compare(v, e)));
      holds &&= positive === operator ? anyEqual : !anyEqual;
    }
  }
  return { holds, unevaluated };
}
