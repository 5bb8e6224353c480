/**
 * Message attributes as Publish takes them, and the subscription filter policies matched against them
 * (exact string and number matching, the common subset).
 */
import { invalidParameter, SnsRequestError } from './query-protocol.ts';

export interface MessageAttribute {
  DataType: string;
  StringValue?: string;
  BinaryValue?: string;
}

/** Exact-match subset of SNS filter policies: attribute name → allowed strings or numbers. */
export type FilterPolicy = Record<string, Array<string | number>>;

/** Validates a filter policy; only exact string/number matching (the common subset) is supported. */
export function parseFilterPolicy(text: string): FilterPolicy {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidParameter('FilterPolicy: failed to parse JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidParameter('FilterPolicy: the policy must be a JSON object');
  }
  const policy: FilterPolicy = {};
  for (const [name, allowed] of Object.entries(parsed)) {
    const values = Array.isArray(allowed) ? allowed : [allowed];
    for (const value of values) {
      if (typeof value !== 'string' && typeof value !== 'number') {
        throw invalidParameter(
          `FilterPolicy: ${name}: only exact string and number matching is supported by the local endpoint`,
        );
      }
    }
    policy[name] = values as Array<string | number>;
  }
  return policy;
}

/** Every policy key must be present and match one allowed value (String.Array: any element). */
export function matchesFilterPolicy(
  policy: FilterPolicy,
  attributes: Map<string, MessageAttribute>,
): boolean {
  return Object.entries(policy).every(([name, allowed]) => {
    const attribute = attributes.get(name);
    if (!attribute || attribute.StringValue === undefined) return false;
    const candidates = candidateValues(attribute);
    return allowed.some((value) =>
      candidates.some((candidate) =>
        typeof value === 'number'
          ? typeof candidate === 'number' && candidate === value
          : candidate === value,
      ),
    );
  });
}

function candidateValues(attribute: MessageAttribute): Array<string | number> {
  const text = attribute.StringValue ?? '';
  if (attribute.DataType.startsWith('Number')) return [Number(text)];
  if (attribute.DataType.startsWith('String.Array')) {
    try {
      const items: unknown = JSON.parse(text);
      if (Array.isArray(items)) {
        return items.filter(
          (item): item is string | number => typeof item === 'string' || typeof item === 'number',
        );
      }
    } catch {
      // An unparsable array matches nothing, as in SNS.
    }
    return [];
  }
  return [text];
}

/** `MessageAttributes.entry.N.Name` / `.Value.DataType` / `.Value.StringValue` / `.Value.BinaryValue`. */
export function parseMessageAttributes(params: URLSearchParams): Map<string, MessageAttribute> {
  const attributes = new Map<string, MessageAttribute>();
  for (let n = 1; params.has(`MessageAttributes.entry.${n}.Name`); n++) {
    const prefix = `MessageAttributes.entry.${n}`;
    const name = params.get(`${prefix}.Name`) ?? '';
    const dataType = params.get(`${prefix}.Value.DataType`);
    const stringValue = params.get(`${prefix}.Value.StringValue`);
    const binaryValue = params.get(`${prefix}.Value.BinaryValue`);
    if (!dataType || !/^(String|Number|Binary|String\.Array)(\..+)?$/.test(dataType)) {
      throw new SnsRequestError(
        'ParameterValueInvalid',
        `The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`,
      );
    }
    if (stringValue === null && binaryValue === null) {
      throw new SnsRequestError(
        'ParameterValueInvalid',
        `The message attribute '${name}' must contain non-empty message attribute value.`,
      );
    }
    attributes.set(name, {
      DataType: dataType,
      ...(stringValue !== null ? { StringValue: stringValue } : {}),
      ...(binaryValue !== null ? { BinaryValue: binaryValue } : {}),
    });
  }
  return attributes;
}
