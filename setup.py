"""Install mmsniper.

A wheel build (``pip install .``) copies ``configs/`` and ``tools/`` into
``mmsniper/.mim/`` so that ``mim train mmsniper CONFIG`` finds them in the installed
package; ``python setup.py develop`` links them instead. A PEP 660 editable install
(``pip install -e .``) makes no ``.mim`` folder, so mim cannot find the tools there:
use a plain ``pip install .`` (the README's set-up command does).
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(ROOT, 'mmsniper', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


def read_requirements(path: str) -> list:
    reqs = []
    with open(osp.join(ROOT, path), encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


def add_mim_extension() -> None:
    """Put configs/ and tools/ under mmsniper/.mim for mim (copy for wheels, link for develop)."""
    if 'develop' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'install', 'build')):
        mode = 'copy'
    else:
        return
    mim_root = osp.join(ROOT, 'mmsniper', '.mim')
    os.makedirs(mim_root, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(ROOT, name)
        dst = osp.join(mim_root, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_root), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmsniper',
        version=read_version(),
        description='SNIPER: efficient multi-scale training and inference for MMDetection 3.x',
        long_description=open(osp.join(ROOT, 'README.md'), encoding='utf-8').read(),
        long_description_content_type='text/markdown',
        license='Apache License 2.0',
        python_requires='>=3.8',
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
        include_package_data=True,
        package_data={'mmsniper': ['.mim/**/*', '.mim/*']},
        install_requires=read_requirements('requirements/runtime.txt'),
        zip_safe=False,
    )
