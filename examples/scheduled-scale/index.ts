// The module `capstan controllers --module` loads, and main.ts runs: the controllers and the kinds
// they define. Loaded into the built-in manager, the kinds are registered and their CustomKinds
// installed exactly as runControllers does in a process of their own.
import type { ControllerDefinition } from 'capstan/sdk';
import { scheduledScaleController } from './controller.ts';
import { scheduledScaleKind } from './kind.ts';

export const controllers: ControllerDefinition[] = [scheduledScaleController()];
export const kinds = [scheduledScaleKind];
