export * from './dtypes';
export * from './read';
export * from './write';
