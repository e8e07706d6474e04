import { z } from 'zod';
import { KindRegistry, type KindDefinition } from '../../api/kinds/registry.ts';
import type { CapstanObject } from '../../api/object.ts';

/** A minimal namespaced kind for store and runtime tests that do not care about App's schema. */
export const widgetKind: KindDefinition = {
  apiVersion: 'capstan/v1',
  kind: 'Widget',
  plural: 'widgets',
  singular: 'widget',
  shortNames: ['wd'],
  namespaced: true,
  spec: z.object({ size: z.number().int().default(1), note: z.string().optional() }).strict(),
};

/** A kind with a binding (as Task has): `slot` and `port` are written once, by Store.bindMany. */
export const placedKind: KindDefinition = {
  apiVersion: 'capstan/v1',
  kind: 'Placed',
  plural: 'placeds',
  singular: 'placed',
  shortNames: [],
  namespaced: true,
  spec: z.object({ size: z.number().int().default(1), slot: z.string().optional(), port: z.number().int().optional() }).strict(),
  binding: { fields: ['slot', 'port'], finalizer: 'capstan.io/runner' },
};

export function widgetRegistry(): KindRegistry {
  return new KindRegistry().register(widgetKind).register(placedKind);
}

export function placed(name: string, spec: { size?: number; slot?: string; port?: number } = {}): CapstanObject<{ size: number; slot?: string; port?: number }> {
  return { apiVersion: 'capstan/v1', kind: 'Placed', metadata: { name, namespace: 'default' }, spec: { size: 1, ...spec } };
}

export function widget(name: string, size = 1, namespace = 'default'): CapstanObject<{ size: number }> {
  return { apiVersion: 'capstan/v1', kind: 'Widget', metadata: { name, namespace }, spec: { size } };
}
