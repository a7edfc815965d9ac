export * from './image';
export * from './transforms';
export * from './image-folder';
export * from './decode';
export * from './presets';
export * from './validate';
export * from './prepare';
