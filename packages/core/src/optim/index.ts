export * from './adamw';
export * from './clip';
export * from './schedule';
export * from './train-step';
export * from './grads';
export * from './state';
