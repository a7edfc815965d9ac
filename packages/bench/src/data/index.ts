export * from './image';
export * from './transforms';
export * from './image-folder';
