/**
 * IAM enforced in the local stack's clients. Every command a function sends is mapped to the IAM
 * actions and resources it needs (actions.ts) and decided against the policies of the function's role
 * in the synthesized template (policy.ts) before it reaches an emulator; a refusal fails the way AWS
 * fails it (denied.ts). The handler code is the code that runs in AWS: only the clients the local
 * pipeline hands it carry the check, as an SDK middleware.
 *
 * The same goes for what the Lambda service itself does with the role (reading a function's event
 * source, sending a failed batch to its destination): `checkServiceAccess` decides those when a
 * mapping starts, as Lambda does when it creates an event source mapping.
 */
import { createAccessMapper, serviceOf } from './actions.ts';
import { AccessDeniedError } from './denied.ts';
import type { Decision, IamModel, IamPrincipal } from './policy.ts';

export interface IamTally {
  /** Decisions taken: one per action and resource a call needed. */
  checked: number;
  denied: number;
  /** The refusals, in order, each naming its role, action and resource. */
  denials: Decision[];
}

/** Who made a refused call: the function's logical id, and the refusal. */
export type DeniedListener = (functionLogicalId: string, decision: Decision) => void;

export interface LocalIam {
  readonly tally: IamTally;
  /** Puts the check into `client` for the role of the function `functionLogicalId`; returns it. */
  guard<C extends GuardableClient>(client: C, functionLogicalId: string): C;
  /** Decides what the Lambda service does as the function's role; throws the first refusal. */
  checkServiceAccess(functionLogicalId: string): void;
}

/** Any SDK v3 client (a DynamoDB document client shares its base client's stack). */
export interface GuardableClient {
  // biome-ignore lint/suspicious/noExplicitAny: every client's stack, whatever its input and output types
  middlewareStack: { add(middleware: any, options: any): void };
}

type Handler = (args: { input: unknown }) => Promise<{ output: unknown }>;

interface CommandContext {
  clientName?: string;
  commandName?: string;
}

export function createLocalIam(model: IamModel, options: { onDenied?: DeniedListener } = {}): LocalIam {
  const tally: IamTally = { checked: 0, denied: 0, denials: [] };
  const principals = new Map<string, IamPrincipal>();
  const decisions = new Map<string, Decision>();
  const principalOf = (functionLogicalId: string) => {
    let principal = principals.get(functionLogicalId);
    if (!principal) {
      principal = model.principal(functionLogicalId);
      principals.set(functionLogicalId, principal);
    }
    return principal;
  };

  function decide(
    functionLogicalId: string,
    principal: IamPrincipal,
    access: Parameters<IamModel['authorize']>[1],
  ) {
    // A decision depends on the role and the access only (the template does not change while the
    // stack runs), and takes about a millisecond to reach: each distinct one is taken once.
    const key = `${functionLogicalId}\u0000${access.action}\u0000${access.resource}\u0000${access.via ?? ''}`;
    let decision = decisions.get(key);
    if (!decision) {
      decision = model.authorize(principal, access);
      decisions.set(key, decision);
    }
    tally.checked++;
    if (!decision.allowed) {
      tally.denied++;
      tally.denials.push(decision);
      options.onDenied?.(functionLogicalId, decision);
    }
    return decision;
  }

  return {
    tally,
    guard(client, functionLogicalId) {
      const principal = principalOf(functionLogicalId);
      // One mapper per client: an Athena query's later calls depend on what its first returned.
      const mapper = createAccessMapper(model.env, model.catalog);
      client.middlewareStack.add(
        (next: Handler, context: CommandContext): Handler =>
          async (args) => {
            const call = {
              service: context.clientName ?? 'unknown',
              command: context.commandName ?? 'unknown',
              input: args.input as Record<string, unknown>,
            };
            for (const access of mapper.accessOf(call)) {
              const decision = decide(functionLogicalId, principal, access);
              if (!decision.allowed) throw new AccessDeniedError(decision, serviceOf(call.service));
            }
            const result = await next(args);
            mapper.observe(call, result.output);
            return result;
          },
        // Before anything else: a refused call must not reach the emulator, nor be retried by the SDK.
        { step: 'initialize', priority: 'high', name: 'localIamCheck' },
      );
      return client;
    },
    checkServiceAccess(functionLogicalId) {
      const principal = principalOf(functionLogicalId);
      for (const access of model.lambdaServiceAccess(functionLogicalId)) {
        const decision = decide(functionLogicalId, principal, access);
        if (!decision.allowed) throw new AccessDeniedError(decision, access.action.split(':')[0] ?? '');
      }
    },
  };
}
