# The data of the small runs: a stratified subset of Fashion-MNIST (250 training images per class from the training
# set, 100 test images per class from the test set, seed 1) written as gzipped IDX files into runs/fmnist-2k.
import gzip, struct, random, os
src = '/usr/share/datasets/fashion-mnist'
dst = 'runs/fmnist-2k'
os.makedirs(dst, exist_ok=True)

def read(name):
    with gzip.open(f'{src}/{name}-images-idx3-ubyte.gz') as f: images = f.read()
    with gzip.open(f'{src}/{name}-labels-idx1-ubyte.gz') as f: labels = f.read()
    return images[16:], labels[8:]

def write(name, images, labels, idx):
    with gzip.open(f'{dst}/{name}-images-idx3-ubyte.gz', 'wb') as f:
        f.write(struct.pack('>IIII', 2051, len(idx), 28, 28)); f.write(b''.join(images[i*784:(i+1)*784] for i in idx))
    with gzip.open(f'{dst}/{name}-labels-idx1-ubyte.gz', 'wb') as f:
        f.write(struct.pack('>II', 2049, len(idx))); f.write(bytes(labels[i] for i in idx))

def stratified(labels, per_class, seed):
    r = random.Random(seed); out = []
    for c in range(10):
        ids = [i for i, l in enumerate(labels) if l == c]; r.shuffle(ids); out += sorted(ids[:per_class])
    return sorted(out)

ti, tl = read('train'); write('train', ti, tl, stratified(tl, 250, 1))
vi, vl = read('t10k'); write('t10k', vi, vl, stratified(vl, 100, 1))
