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

export function widgetRegistry(): KindRegistry {
  return new KindRegistry().register(widgetKind);
}

export function widget(name: string, size = 1, namespace = 'default'): CapstanObject<{ size: number }> {
  return { apiVersion: 'capstan/v1', kind: 'Widget', metadata: { name, namespace }, spec: { size } };
}
