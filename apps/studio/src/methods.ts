import { MethodRegistry, type Method, type MethodFactory } from '@fpt/backbone-vit';
import { registerBaselines } from '@fpt/baselines';
import { configToStrings } from '@fpt/core';
import { registerFpt } from '@fpt/fpt-plus';

// Any method of the registry, with its options as a form generated from its defaults: each option
// is a field holding the string `--set` would take (configToStrings), and the method is made by the
// registry from the fields that changed, exactly as the bench's `--method NAME --set key=value`.

/** FPT+, FPT and the baselines by name: what the page trains and what an import revives. */
export const STUDIO_REGISTRY = registerBaselines(registerFpt(new MethodRegistry()));

/** The method trained unless another is chosen. */
export const DEFAULT_METHOD = 'fpt-plus';

/**
 * Options the page sets before the user does, per method (the bench's quick preset's): the FPT
 * side networks at width 24 and 64x64, their LPM input at the LPM's 96x96.
 */
const STUDIO_PRESETS: Record<string, Record<string, string>> = {
  'fpt-plus': { inputSize: '96', 'side.hiddenSize': '24', 'side.imageSize': '64' },
  fpt: { inputSize: '96', 'side.hiddenSize': '24', 'side.imageSize': '64' },
};

/** The form's starting values: the defaults as strings, with the page's preset over them. */
export function formValues(factory: MethodFactory): Record<string, string> {
  return { ...configToStrings(factory.defaults), ...STUDIO_PRESETS[factory.methodName] };
}

/** The method of `name` from the form's values; only values that differ from the defaults are passed on, as `--set` would. */
export function methodFromForm(name: string, values: Record<string, string>): Method {
  const factory = STUDIO_REGISTRY.get(name);
  const defaults = configToStrings(factory.defaults);
  const sets = Object.fromEntries(Object.entries(values).filter(([key, value]) => defaults[key] !== value));
  return STUDIO_REGISTRY.fromStrings(name, sets);
}

/** Fills `form` with one field per option of `name`'s config (a checkbox for a boolean); returns a reader of the values. */
export function buildMethodForm(form: HTMLElement, name: string): () => Record<string, string> {
  const factory = STUDIO_REGISTRY.get(name);
  const values = formValues(factory);
  const kinds = factory.optionKinds as Record<string, string>;
  const inputs = Object.entries(values).map(([key, value]) => {
    const input = document.createElement('input');
    input.name = key;
    input.dataset.option = key;
    const isBoolean = value === 'true' || value === 'false';
    if (isBoolean) {
      input.type = 'checkbox';
      input.checked = value === 'true';
    } else {
      input.value = value;
      input.size = Math.max(6, value.length + 2);
      if (kinds[key] === 'methods') input.placeholder = 'method names, comma-separated';
      else if (kinds[key] === 'number?') input.placeholder = 'auto or a number';
    }
    const label = document.createElement('label');
    label.append(`${key} `, input);
    return { key, input, isBoolean, label };
  });
  const description = document.createElement('p');
  description.className = 'method-description';
  description.textContent = factory.description;
  form.replaceChildren(description, ...inputs.map((i) => i.label));
  return () => Object.fromEntries(inputs.map(({ key, input, isBoolean }) => [key, isBoolean ? String(input.checked) : input.value.trim()]));
}
